type Node<V> = { key: string; value: V; older: Node<V> | undefined; newer: Node<V> | undefined }

/**
 * A Map kept in order of use, whose least recently used entry is found at once. A plain Map in
 * insertion order does the same by deleting and setting a key again on every use, but then
 * finding its oldest key (`keys().next()`) skips every hole earlier deletes left at its front:
 * 16 to 28 µs an eviction in a full cache of 60,000 entries. Here uses and evictions relink a
 * list; the Map only finds nodes.
 */
export class LruMap<V> {
  private readonly nodes = new Map<string, Node<V>>()
  private oldestNode: Node<V> | undefined
  private newestNode: Node<V> | undefined

  get size(): number {
    return this.nodes.size
  }

  /** The value, without counting it as a use. */
  peek(key: string): V | undefined {
    return this.nodes.get(key)?.value
  }

  /** Counts a use: the key becomes the most recently used. */
  touch(key: string): void {
    const node = this.nodes.get(key)
    if (!node || node === this.newestNode) return
    this.unlink(node)
    this.append(node)
  }

  /** Sets the value, as the most recently used. */
  set(key: string, value: V): void {
    const node = this.nodes.get(key)
    if (node) {
      node.value = value
      this.touch(key)
      return
    }
    const added: Node<V> = { key, value, older: undefined, newer: undefined }
    this.nodes.set(key, added)
    this.append(added)
  }

  delete(key: string): boolean {
    const node = this.nodes.get(key)
    if (!node) return false
    this.nodes.delete(key)
    this.unlink(node)
    return true
  }

  /** The least recently used entry. */
  oldest(): { key: string; value: V } | undefined {
    const node = this.oldestNode
    return node && { key: node.key, value: node.value }
  }

  clear(): void {
    this.nodes.clear()
    this.oldestNode = undefined
    this.newestNode = undefined
  }

  private append(node: Node<V>): void {
    node.older = this.newestNode
    node.newer = undefined
    if (this.newestNode) this.newestNode.newer = node
    else this.oldestNode = node
    this.newestNode = node
  }

  private unlink(node: Node<V>): void {
    if (node.older) node.older.newer = node.newer
    else this.oldestNode = node.newer
    if (node.newer) node.newer.older = node.older
    else this.newestNode = node.older
    node.older = undefined
    node.newer = undefined
  }
}
