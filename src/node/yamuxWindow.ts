// Yamux window updates at half the window, as go-yamux and rust-yamux send them.
//
// @chainsafe/libp2p-yamux 8 answers every data frame a stream receives with a window update
// frame: a frame written, encrypted and sent back for each one received. A streamed completion
// is one small frame per token, so the gateway sent as many window updates as the executor sent
// tokens, and every gossip message cost its receiver one more frame too. Yamux leaves it to the
// receiver when to grant credit (its spec, and HTTP/2's that it follows); go-yamux skips an update
// while less than half the window has been used, rust-yamux sends one once half has been
// received. This does the same: while the stream is established (no flag to send), the update
// waits until the credit left to the sender is at most half the window. The sender then never
// waits for credit unless it has sent half a window (128 KiB at first) not yet granted back.
import { YamuxStream, StreamState } from '@chainsafe/libp2p-yamux/stream'

/** The fields of a YamuxStream this reads (private in its types). */
interface Window {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
}

let applied = false

/** Install the half-window rule on every Yamux stream of this process (once; idempotent). */
export function yamuxWindowAtHalf(): void {
  if (applied) return
  applied = true
  const proto = YamuxStream.prototype as unknown as { sendWindowUpdate(this: Window): void }
  const original = proto.sendWindowUpdate
  if (typeof original !== 'function')
    throw new Error('@chainsafe/libp2p-yamux: YamuxStream.sendWindowUpdate is gone; see yamuxWindow.ts')
  proto.sendWindowUpdate = function (this: Window): void {
    if (this.state === StreamState.Established && 2 * this.recvWindowCapacity > this.recvWindow) return
    original.call(this)
  }
}
