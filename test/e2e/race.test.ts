import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { TestDaemon } from '../helpers/daemon.js'
import { tempDir, cordex, cordexJson, waitFor } from '../helpers/cli.js'
import { startDevnet, writePeerConfig } from '../helpers/devnet.js'

interface Epoch {
  epoch: number
  phase: string
  phaseStart: number
  raceStart: number
  nextRace: { height: number; inBlocks: number; etaMs: number | null }
  weights: Record<string, number>
  proofs: Array<{ prover: string; nonces: number }>
  verdicts: Array<{ prover: string; validator: string; accepted: boolean }>
}
interface Race {
  phase: string
  epoch: number
  nextRace: { height: number; inBlocks: number }
  me: { racing: boolean; done: number; epoch: number }
}

test('daemons race every epoch: a half-speed peer gets about half the weight; a latecomer syncs, races and validates; a prover that withholds its list gets none', async (t) => {
  const dir = tempDir()
  const base = join(dir.path, 'net')
  // Where the run's time went (seconds from the start, per step), for a look at a slow run.
  const t0 = Date.now()
  const steps: string[] = []
  const step = (what: string): void => {
    steps.push(`${what} ${((Date.now() - t0) / 1000).toFixed(0)}s`)
  }
  const late = new TestDaemon(join(base, 'peer-4'))
  const withholder = new TestDaemon(join(base, 'peer-5'))
  // The devnet's own 20-block epoch leaves 1 or 2 blocks between a Race's verdicts and the next
  // Race (the Race's transactions make blocks faster than one a second), and in most epochs no serve
  // phase of 2 blocks, which the checks below look at. 4 more blocks make one in every epoch.
  // Peer 3's Race worker runs at half speed.
  const preset = (i: number, config: Record<string, unknown>): void =>
    writePeerConfig(join(base, `peer-${i}`), { network: 'devnet', ...config })
  preset(0, { genesis: { params: { epochBlocks: 24 } } })
  preset(3, { raceWorker: { throttle: 0.5 } })
  // The weights below are each peer's share of the cores: no test throttle but peer 3's own.
  const devnet = await startDevnet(base, 4, [], { raceThrottle: 0 })
  step('devnet')
  after(async () => {
    t.diagnostic(`steps: ${steps.join(', ')}`)
    await Promise.all([late.stop(), withholder.stop()])
    await devnet.stop()
    dir.cleanup()
  })
  const ids = devnet.peers.map((p) => p.peerId)
  const peer0 = new TestDaemon(join(base, 'peer-0'))
  const epoch = async (): Promise<Epoch> => (await peer0.get<Epoch>('/epoch')).body

  // A fifth peer, not in genesis, joins from peer 0's address with the same genesis. A sixth
  // commits to its nonce list (devnet cheat) but serves no opening of it; it races at a tenth of
  // full speed, enough for a proof without crowding the others.
  const c0 = JSON.parse(readFileSync(join(base, 'peer-0', 'config.json'), 'utf8')) as {
    genesis: { params: { epochBlocks: number } }
  }
  const joiner = { network: 'devnet', genesis: c0.genesis, p2p: { bootstrap: [devnet.peers[0]!.addrs[0]!] } }
  const [{ peerId: lateId }, { peerId: withholderId }] = await Promise.all([
    TestDaemon.init(late.dataDir),
    TestDaemon.init(withholder.dataDir),
  ])
  writeFileSync(join(late.dataDir, 'config.json'), JSON.stringify(joiner))
  writeFileSync(
    join(withholder.dataDir, 'config.json'),
    JSON.stringify({ ...joiner, raceWorker: { throttle: 0.9 }, cheat: { mode: 'withholdProof' } }),
  )
  await Promise.all([late.start(), withholder.start()])
  step('peers started')
  const joinedAt = (await epoch()).epoch

  // Two full epochs later, the weights in force come from a Race everybody ran under these settings.
  // One 4-second Race on a shared machine is noisy (CI once saw the half-speed peer at a quarter
  // over two): add up the weights of three.
  // The withholder's proof and its verdicts, the most of them seen in one epoch while the test waits.
  let judged: Epoch['verdicts'] = []
  const look = async (): Promise<Epoch> => {
    const e = await epoch()
    const v = e.verdicts.filter((x) => x.prover === withholderId)
    if (e.proofs.some((p) => p.prover === withholderId) && v.length > judged.length) judged = v
    return e
  }
  const weightsAt = (n: number): Promise<Record<string, number>> =>
    waitFor(
      `epoch ${n}`,
      async () => {
        const e = await look()
        return e.epoch >= n && e.phase !== 'commit' ? e.weights : undefined
      },
      150_000,
    )
  const races: Array<Record<string, number>> = []
  for (let n = joinedAt + 2; n <= joinedAt + 4; n++) races.push(await weightsAt(n))
  step('weights')
  const weights: Record<string, number> = {}
  for (const w of races) for (const [id, n] of Object.entries(w)) weights[id] = (weights[id] ?? 0) + n
  const full = [0, 1, 2].map((i) => weights[ids[i]!] ?? 0)
  const mean = full.reduce((a, b) => a + b, 0) / full.length
  assert.ok(
    full.every((w) => w > 0),
    `every full-speed peer has weight: ${JSON.stringify(weights)}`,
  )
  // Six daemons race on two cores, so the others are slowed too and the throttled one's share drifts
  // up: 0.72 was seen on an otherwise idle CI machine. Full speed would be about 1.
  const ratio = (weights[ids[3]!] ?? 0) / mean
  t.diagnostic(`half-speed weight ratio ${ratio.toFixed(2)}; weights of each Race: ${JSON.stringify(races)}`)
  assert.ok(
    ratio > 0.3 && ratio < 0.8,
    `the half-speed peer has about half the weight (ratio ${ratio.toFixed(2)}; weights of each Race: ${JSON.stringify(races)})`,
  )
  assert.ok(
    (weights[lateId] ?? 0) > 0,
    `the latecomer gained weight; its log:\n${late.output
      .split('\n')
      .filter((l) => /race|sync|ledger/.test(l))
      .slice(-15)
      .join('\n')}`,
  )

  // Between Races the chain serves inference only: the Race workers do nothing, and `cordex race`
  // tells when the next Race begins; it begins there. Two looks at the worker within one serve
  // phase, blocks apart (one `/race` answer holds the phase and the worker's counters together).
  const quiet = await waitFor(
    'two looks within one serve phase',
    async () => {
      const first = (await peer0.get<Race>('/race')).body
      if (first.phase !== 'serve') return undefined
      for (;;) {
        await new Promise((r) => setTimeout(r, 300))
        const next = (await peer0.get<Race>('/race')).body
        if (next.phase !== 'serve' || next.epoch !== first.epoch) return undefined
        if (next.nextRace.inBlocks < first.nextRace.inBlocks) return [first, next] as const
      }
    },
    120_000,
  )
  step('quiet')
  assert.deepEqual(
    quiet.map((r) => [r.me.racing, r.me.done, r.me.epoch]),
    [0, 1].map(() => [false, quiet[0].me.done, quiet[0].me.epoch]),
    'no nonce outside a Race',
  )
  // The Race begins at the block the serve phase announced.
  const announced = quiet[1].nextRace.height
  const serving = await epoch()
  // The serve phase may have ended, or end while the CLI starts: then it shows the Race after.
  const text = await cordex(['race', '--data-dir', peer0.dataDir])
  const shown = Number(/next Race: block (\d+), in \d+ blocks/.exec(text.stdout)?.[1])
  assert.ok([serving.nextRace.height, announced + c0.genesis.params.epochBlocks].includes(shown), text.stdout)
  const started = await waitFor(
    'the next Race',
    async () => {
      const e = await look()
      return e.epoch > quiet[1].epoch || e.phase !== 'serve' ? e : undefined
    },
    60_000,
  )
  step('next Race')
  assert.equal(started.raceStart, announced)
  assert.ok(started.phase !== 'commit' || started.phaseStart === announced)

  // The withholding prover's proof went in (its root and count) and every judge rejected it.
  await waitFor(
    'verdicts on the withholding prover',
    async () => {
      await look()
      return judged.length >= 2 ? true : undefined
    },
    120_000,
  )
  step('verdicts')
  assert.ok(
    judged.every((v) => !v.accepted),
    'no judge accepts a list it cannot open',
  )
  assert.equal(weights[withholderId], undefined, 'it never had weight')

  // It is a validator now and votes: its precommits appear in commits of new blocks. The set is the
  // last Race's, and on a loaded machine the latecomer may miss one Race: wait for one it is in.
  await waitFor(
    'the latecomer in the validator set',
    async () => {
      const race = await cordexJson<{ validators: Array<{ id: string; power: number }> }>([
        'race',
        '--data-dir',
        late.dataDir,
      ])
      return race.validators.some((v) => v.id === lateId && v.power > 0) ? true : undefined
    },
    120_000,
  )
  step('latecomer validates')
  await waitFor(
    'a block signed by the latecomer',
    async () => {
      const head = (await peer0.get<{ height: number }>('/ledger/head')).body.height
      for (let h = head; h > head - 20 && h > 0; h--) {
        const b = await peer0.get<{ commit: { signers: string[] } | null }>(`/ledger/blocks/${h}`)
        if (b.body.commit?.signers.includes(lateId)) return true
      }
      return undefined
    },
    60_000,
  )
})
