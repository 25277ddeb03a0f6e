// libp2p 3 calls `Promise.withResolvers`, which Node 20 lacks (STACK.md). This module must be
// evaluated before any libp2p module: mesh/index.ts imports it first, and any other entry point
// that imports libp2p directly must do the same.
if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value<T> () {
      let resolve!: (value: T | PromiseLike<T>) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}

export {}
