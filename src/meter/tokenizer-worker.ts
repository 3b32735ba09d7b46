import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'

// The worker loads the same tokenizer package the main thread uses, by its resolved file URL. Its
// source is inline (eval) so it runs the same under tsc output, tsx and vitest, none of which need
// to know about a second entry file.
const TOKENIZER_URL = pathToFileURL(createRequire(import.meta.url).resolve('llama-tokenizer-js')).href
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
import(${JSON.stringify(TOKENIZER_URL)}).then(({ default: tokenizer }) => {
  parentPort.on('message', ({ id, text }) => {
    parentPort.postMessage({ id, count: tokenizer.encode(text, false, false).length })
  })
})`

type Pending = { resolve(count: number): void; reject(err: Error): void }

/**
 * Counts long pieces (a "word" of hundreds of characters or more: a pasted hash, base64 in a prompt) on a
 * thread of its own. The library's merge queue grows faster than the text does (16 KiB took 80 ms
 * here), and the main thread serves every tenant, so no such piece is ever encoded on it. One
 * worker, started on first use, kept off the process's exit path (unref).
 */
export class TokenizerWorker {
  private worker: Worker | undefined
  private readonly pending = new Map<number, Pending>()
  private nextId = 0

  count(piece: string): Promise<number> {
    const worker = this.start()
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      worker.postMessage({ id, text: piece })
    })
  }

  async close(): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    await worker?.terminate()
  }

  private start(): Worker {
    if (this.worker) return this.worker
    const worker = new Worker(WORKER_SOURCE, { eval: true })
    worker.unref()
    worker.on('message', ({ id, count }: { id: number; count: number }) => {
      this.pending.get(id)?.resolve(count)
      this.pending.delete(id)
    })
    worker.on('error', (err) => this.fail(err))
    worker.on('exit', () => {
      this.fail(new Error('the tokenizer worker exited'))
      if (this.worker === worker) this.worker = undefined
    })
    this.worker = worker
    return worker
  }

  private fail(err: Error): void {
    for (const pending of this.pending.values()) pending.reject(err)
    this.pending.clear()
  }
}
