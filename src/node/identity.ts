import { readFile, rename, open, mkdir } from 'node:fs/promises'
import { join, dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey, PeerId } from '@libp2p/interface'
import { CordexError } from '../util/errors.js'
import { insecureModeReason } from './secretFile.js'

export const IDENTITY_FILE = 'identity.key'

export type IdentityErrorCode = 'IDENTITY_UNREADABLE' | 'IDENTITY_INSECURE' | 'IDENTITY_WRONG_TYPE'
export class IdentityError extends CordexError<IdentityErrorCode, { file: string }> {}

export interface Identity {
  privateKey: PrivateKey
  peerId: PeerId
  /** True when this call created the key. */
  created: boolean
}

/**
 * Load the peer's Ed25519 key from `<dataDir>/identity.key` (libp2p protobuf form), creating it
 * on first use. SPEC 1: the file is mode 0600; a key readable by others is refused, as ssh does.
 */
export async function loadOrCreateIdentity(dataDir: string): Promise<Identity> {
  const file = join(dataDir, IDENTITY_FILE)
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new IdentityError('IDENTITY_UNREADABLE', `cannot read ${file}: ${(err as Error).message}`, {
        file,
      })
    }
  }
  if (bytes === undefined) {
    const privateKey = await generateKeyPair('Ed25519')
    await writeSecretFile(file, privateKeyToProtobuf(privateKey))
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey), created: true }
  }
  const insecure = await insecureModeReason(file)
  if (insecure !== undefined) throw new IdentityError('IDENTITY_INSECURE', insecure, { file })
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new IdentityError(
      'IDENTITY_UNREADABLE',
      `${file} is not a libp2p private key: ${(err as Error).message}`,
      {
        file,
      },
    )
  }
  if (privateKey.type !== 'Ed25519') {
    throw new IdentityError(
      'IDENTITY_WRONG_TYPE',
      `${file} holds a ${privateKey.type} key; Cordex needs Ed25519`,
      {
        file,
      },
    )
  }
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), created: false }
}

/** Write a file with mode 0600 through a temporary file, so a crash never leaves half a key. */
async function writeSecretFile(file: string, data: Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.tmp-${process.pid}`
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, file)
}
