import { test } from 'node:test'
import assert from 'node:assert/strict'
import { libp2pLogger } from '../../../src/node/libp2pLogger.js'

test("libp2p's logger is its own under DEBUG, and otherwise one that drops everything", () => {
  const quiet = libp2pLogger(undefined)
  const log = quiet.forComponent('libp2p:connection')
  assert.equal(log.enabled, false)
  // Every call is taken and nothing comes of it, in every scope below.
  log('opened %s', 'x')
  log.error('failed %e', new Error('boom'))
  log.trace('frame %d', 1)
  const scoped = log.newScope('outbound').newScope('stream')
  assert.equal(scoped.enabled, false)
  assert.equal(libp2pLogger('  ').forComponent('libp2p:x').enabled, false, 'a blank DEBUG names nothing')

  // With DEBUG set: @libp2p/logger's loggers, one per component, with their own scopes.
  const loud = libp2pLogger('libp2p*').forComponent('libp2p:connection')
  assert.notEqual(loud, log)
  assert.equal(typeof loud.newScope('outbound'), 'function')
})
