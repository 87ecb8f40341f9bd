// Test doubles for the candidate client: a scriptable WebSocket, a manual clock, a storage.

/** A WebSocket class whose instances the test drives from the "server" side. */
export function fakeSocketClass() {
  const sockets = [];
  class FakeSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.sent = [];
      this.closedWith = null;
      this.listeners = new Map();
      sockets.push(this);
    }

    // -- the client's side
    send(data) {
      if (this.readyState !== 1) throw new Error("socket is not open");
      this.sent.push(JSON.parse(data));
    }

    close(code = 1000, reason = "") {
      if (this.readyState >= 2) return;
      this.closedWith = { code, reason };
      this.readyState = 3;
      this.emit("close", { code, reason });
    }

    addEventListener(type, fn) {
      if (!this.listeners.has(type)) this.listeners.set(type, new Set());
      this.listeners.get(type).add(fn);
    }

    removeEventListener(type, fn) {
      this.listeners.get(type)?.delete(fn);
    }

    emit(type, event) {
      const handler = this[`on${type}`];
      if (typeof handler === "function") handler.call(this, event);
      for (const fn of this.listeners.get(type) ?? []) fn.call(this, event);
    }

    // -- the server's side
    accept() {
      this.readyState = 1;
      this.emit("open", {});
    }

    deliver(frame) {
      this.emit("message", { data: typeof frame === "string" ? frame : JSON.stringify(frame) });
    }

    hello(lastSeq = 0, round = 1) {
      this.deliver({ type: "hello", protocol: 1, session_id: "s", round_number: round, last_seq: lastSeq });
    }

    serverClose(code, reason = "") {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.emit("close", { code, reason });
    }

    refuse() {
      // what a browser shows for a refused upgrade or an unreachable host
      this.readyState = 3;
      this.emit("error", {});
      this.emit("close", { code: 1006, reason: "" });
    }

    transcripts() {
      return this.sent.filter((f) => f.type === "transcript");
    }
  }
  FakeSocket.sockets = sockets;
  FakeSocket.last = () => sockets[sockets.length - 1];
  return FakeSocket;
}

/** setTimeout/clearTimeout on a clock that moves only when the test says so. */
export class FakeClock {
  constructor() {
    this.t = 0;
    this.timers = new Map();
    this.nextId = 1;
    this.setTimeout = (fn, ms) => {
      const id = this.nextId++;
      this.timers.set(id, { at: this.t + ms, ms, fn });
      return id;
    };
    this.clearTimeout = (id) => {
      this.timers.delete(id);
    };
    this.now = () => Date.UTC(2026, 10, 24, 10, 0, 0) + this.t;
  }

  /** Delays of the pending timers, soonest first. */
  pending() {
    return [...this.timers.values()].map((t) => t.ms).sort((a, b) => a - b);
  }

  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let next = null;
      for (const [id, timer] of this.timers) {
        if (timer.at <= end && (next === null || timer.at < next[1].at)) next = [id, timer];
      }
      if (next === null) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }

  /** Run the soonest timer (e.g. the reconnect), whatever its delay; returns that delay. */
  fireNext() {
    let next = null;
    for (const [id, timer] of this.timers) {
      if (next === null || timer.at < next[1].at) next = [id, timer];
    }
    if (next === null) throw new Error("no timer pending");
    this.timers.delete(next[0]);
    this.t = next[1].at;
    next[1].fn();
    return next[1].ms;
  }
}

export class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
  removeItem(key) {
    this.items.delete(key);
  }
}

export const flush = () => new Promise((resolve) => setImmediate(resolve));
