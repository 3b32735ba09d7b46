import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'

// The gateway's node flags (README "Node flags") are set where it is started, not in code: V8 sizes
// its heap before any script runs. Every way of starting it must give the same ones.
const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8')
const FLAGS = ['--max-semi-space-size=32', '--no-incremental-marking-task']

describe('node flags, the same however the gateway starts', () => {
  it('npm start passes them', () => {
    const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts['start']
    expect(start).toBe(`node ${FLAGS.join(' ')} dist/main.js`)
  })

  it('the Docker image passes them', () => {
    const cmd = /^CMD (\[.*\])$/m.exec(read('Dockerfile'))?.[1]
    expect(JSON.parse(cmd ?? 'null')).toEqual(['node', ...FLAGS, 'dist/main.js'])
  })

  it('the llava-gateway bin (main.ts compiled) passes them on its shebang line', () => {
    expect(read('src/main.ts').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${FLAGS.join(' ')}`)
  })

  it('the README names them', () => {
    expect(read('README.md')).toContain(`node ${FLAGS.join(' ')} dist/main.js`)
  })
})
