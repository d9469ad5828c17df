// The Socket.IO connection: connect with the session token, keep the wanted rooms
// subscribed across reconnects, and report the connection state.
//
// socket.io-client reconnects by itself after a network failure; after a refusal by the
// server (connect_error from the connect handler) or a server-side disconnect it does not,
// so those cases are retried here, except for auth refusals, which go to the login form.

const AUTH_ERRORS = new Set(["unauthorized", "invalid_token"]);
const RETRY_MS = 2_000;

export class Live {
  /**
   * @param {object} handlers  onState(state, detail), onAuthRequired(detail), onEvent(name, data),
   *                           onError(body), onProducts(list)
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.rooms = new Set();
    this.socket = null;
    this.retry = null;
    this.attempt = 0;
  }

  get available() {
    return typeof window.io === "function";
  }

  start(getToken) {
    this.stop();
    if (!this.available) return;
    const socket = window.io({
      path: "/socket.io",
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 5_000,
      auth: (cb) => {
        const t = getToken();
        cb(t ? { token: t } : {});
      },
    });
    this.socket = socket;
    this.handlers.onState("connecting");

    socket.on("connect", () => {
      this.attempt = 0;
      this.handlers.onState("live");
      socket.emit("get_products", {}, (reply) => {
        if (reply && Array.isArray(reply.products)) this.handlers.onProducts(reply.products);
      });
      for (const room of this.rooms) this.#send("subscribe", room);
    });
    socket.on("connect_error", (err) => {
      if (AUTH_ERRORS.has(err?.message)) {
        this.handlers.onAuthRequired(err.data?.detail || err.message);
        return;
      }
      this.attempt += 1;
      this.handlers.onState("reconnecting", `${err?.message || "connection failed"} (attempt ${this.attempt})`);
      if (!socket.active) this.#retryLater();
    });
    socket.on("disconnect", (reason) => {
      this.handlers.onState("reconnecting", reason);
      if (!socket.active) this.#retryLater();
    });
    for (const name of ["chain_summary", "chain_update", "surface_update", "underlying_update"]) {
      socket.on(name, (data) => this.handlers.onEvent(name, data));
    }
    socket.on("error", (body) => this.handlers.onError(body));
  }

  stop() {
    clearTimeout(this.retry);
    this.retry = null;
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.disconnect();
      this.socket = null;
    }
  }

  /** Make `wanted` the subscribed rooms: unsubscribe the others, subscribe the new ones. */
  setRooms(wanted) {
    const next = new Set(wanted);
    for (const room of this.rooms) if (!next.has(room)) this.#send("unsubscribe", room);
    for (const room of next) if (!this.rooms.has(room)) this.#send("subscribe", room);
    this.rooms = next;
  }

  #send(event, room) {
    if (!this.socket?.connected) return; // "connect" subscribes every wanted room
    // A refusal comes back as an `error` event too, which onError shows.
    this.socket.emit(event, { room });
  }

  #retryLater() {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.socket?.connect(), RETRY_MS);
  }
}
