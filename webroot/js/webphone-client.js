// The gateway's WebSocket protocol (docs/protocol.md) for the browser: one session, requests answered
// by Ack/Error with the same ref, server events re-dispatched as DOM events, and reconnection with the
// resume token so a dropped socket (or a page reload) keeps the session and its call.

const RECONNECT_STEPS_MS = [250, 500, 1000, 1000, 2000];
const PING_MS = 25000;
const FRESH_TRIES = 5;
const FINAL_CALL_STATES = ['Error', 'Completed', 'Rejected', 'Cancelled', 'Busy'];
/** Close code: this node drains; connect again at once (the load balancer picks a node that is ready). */
const MOVED = 4002;

export class WebphoneClient extends EventTarget {
  /**
   * @param {string} url   ws(s)://host/ws
   * @param {object} opts  {token?: access token, storageKey?: sessionStorage key of the resume token}
   */
  constructor(url, opts = {}) {
    super();
    this.url = url;
    this.token = opts.token || null;
    this.storageKey = opts.storageKey || 'webphone.resume';
    this.ws = null;
    this.sessionId = null;
    this.iceServers = []; // RTCIceServer list of the newest OnSession / OnIceServers
    this.graceSec = 30;
    this.closedByUs = false;
    this.final = false; // the server ended the session for good (Connection limit, refusal)
    this.pending = new Map();
    this.nextRef = 1;
    this.retry = 0;
    this.lostAt = 0;
    this.pingTimer = null;
    this.movedTries = 0;
    this.hasCall = false; // a call in progress, from OnSession and OnCallStateChanged: worth resuming
  }

  get resumeToken() {
    try { return sessionStorage.getItem(this.storageKey); } catch (e) { return null; }
  }

  set resumeToken(t) {
    try {
      if (t) { sessionStorage.setItem(this.storageKey, t); } else { sessionStorage.removeItem(this.storageKey); }
    } catch (e) { /* storage disabled: resume only within this page */ }
    this._token = t;
  }

  connect() {
    this.closedByUs = false;
    this.final = false;
    // Tokens travel in the first frame, not in the URL (URLs end up in proxy logs); the gateway leases
    // nothing before this Hello and closes a socket that has not sent it within 5 s.
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      const hello = {};
      if (this.token) hello.token = this.token;
      const resume = this.resumeToken || this._token;
      if (resume) hello.resume = resume;
      // A refusal also comes as an Error event (and the socket closes): nothing more to do here.
      this.request('Hello', hello).catch(() => {});
      this.retry = 0;
      this.lostAt = 0;
      this.freshTries = 0;
      clearInterval(this.pingTimer);
      this.pingTimer = setInterval(() => this.request('Ping').catch(() => {}), PING_MS);
    };
    ws.onmessage = (m) => this._onFrame(m.data);
    ws.onclose = (ev) => this._onClose(ws, ev);
  }

  /** Ends the session for good (the server hangs up and returns the line). */
  close() {
    this.closedByUs = true;
    this.resumeToken = null;
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000, 'bye');
  }

  /** Sends a method; resolves with the Ack (or Pong), rejects with the Error frame. */
  request(method, fields = {}) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject({ event: 'Error', code: 500, name: 'INTERNAL', message: 'not connected', method });
        return;
      }
      const ref = String(this.nextRef++);
      this.pending.set(ref, { resolve, reject });
      this.ws.send(JSON.stringify({ method, ref, ...fields }));
    });
  }

  _onFrame(text) {
    let f;
    try { f = JSON.parse(text); } catch (e) { return; }
    if (f.ref !== undefined && this.pending.has(String(f.ref))) {
      const p = this.pending.get(String(f.ref));
      this.pending.delete(String(f.ref));
      (f.event === 'Error' ? p.reject : p.resolve)(f);
      if (f.event !== 'Error') return;
    }
    if (f.event === 'OnSession') {
      this.sessionId = f.sessionId;
      this.graceSec = f.resumeGraceSec;
      this.resumeToken = f.resumeToken;
      this.hasCall = !!f.call;
      this.movedTries = 0;
    }
    if (f.event === 'OnCallStateChanged') this.hasCall = !FINAL_CALL_STATES.includes(f.state);
    // The newest STUN/TURN servers (fresh TURN credentials) for the next offer.
    if ((f.event === 'OnSession' || f.event === 'OnIceServers') && Array.isArray(f.iceServers)) {
      this.iceServers = f.iceServers;
    }
    if (f.event === 'OnRegistrationStateChanged' && f.state === 'Connection limit') this.final = true;
    if (f.event === 'Error' && !f.method && f.code >= 200 && f.code < 300) this.final = true;
    this.dispatchEvent(new CustomEvent(f.event, { detail: f }));
    this.dispatchEvent(new CustomEvent('frame', { detail: f }));
  }

  _onClose(ws, ev) {
    if (ws !== this.ws) return;
    clearInterval(this.pingTimer);
    for (const p of this.pending.values()) {
      p.reject({ event: 'Error', code: 500, name: 'INTERNAL', message: 'connection lost' });
    }
    this.pending.clear();
    // 4004 (we did not read in time, e.g. a frozen tab) falls through: reconnect and resume.
    if (this.closedByUs || this.final || ev.code === 1008 || ev.code === 1013 || ev.code === 4001 || ev.code === 4003) {
      this.dispatchEvent(new CustomEvent('disconnected', { detail: { code: ev.code, reason: ev.reason } }));
      return;
    }
    if (ev.code === MOVED) {
      // The node drains: at once, to whichever node the load balancer picks. The moved session is gone
      // (a fresh one, as after a reload), unless a call is still up and worth resuming.
      // Refused again (the balancer has not seen this node's 503 yet): a short wait, not a tight loop.
      if (!this.hasCall) this.resumeToken = null;
      this.dispatchEvent(new CustomEvent('reconnecting'));
      const wait = this.movedTries++ ? RECONNECT_STEPS_MS[0] : 0;
      setTimeout(() => { if (!this.closedByUs) this.connect(); }, wait);
      return;
    }
    // The session waits graceSec for us: keep trying with the resume token until then; after that a
    // few more tries give a fresh session (the call is gone, the phone is usable again).
    if (!this.lostAt) this.lostAt = Date.now();
    if (Date.now() - this.lostAt > this.graceSec * 1000) {
      this.resumeToken = null;
      this.freshTries = (this.freshTries || 0) + 1;
      if (this.freshTries > FRESH_TRIES) {
        this.dispatchEvent(new CustomEvent('disconnected', { detail: { code: ev.code, reason: 'gave up' } }));
        return;
      }
    }
    this.dispatchEvent(new CustomEvent('reconnecting'));
    const wait = RECONNECT_STEPS_MS[Math.min(this.retry++, RECONNECT_STEPS_MS.length - 1)];
    setTimeout(() => { if (!this.closedByUs) this.connect(); }, wait);
  }
}

/** The gateway's /ws URL next to a page or script URL: ws for http, wss for https. */
export function defaultGatewayUrl(base) {
  const u = new URL('/ws', base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}
