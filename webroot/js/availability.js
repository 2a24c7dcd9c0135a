// An agent's availability on the phone (docs/embedding.md, "Agents"): buttons "Available", "Busy",
// "Wrap-up" (aria-pressed marks the current one) and, while no call runs, the status words
// "Busy (do not disturb)" or "Wrap-up" instead of "Ready". Shown only for a session whose token names an
// agent (OnSession.agent); an anonymous visitor never sees them. Listens to the protocol client's events
// after the phone's own handlers, so its words win over the phone's idle ones.

const STATES = [['Available', 'Available'], ['Busy', 'Busy'], ['WrapUp', 'Wrap-up']];
const IDLE_WORDS = { Busy: 'Busy (do not disturb)', WrapUp: 'Wrap-up' };
/** Idle words the availability may replace (never a call's or an error's words). */
const REPLACEABLE = ['Ready', 'Unavailable', 'Busy (do not disturb)', 'Wrap-up'];

export class AvailabilityControls {
  constructor(phone) {
    this.phone = phone;
    this.state = 'Available';
    this.group = document.createElement('div');
    this.group.className = 'wp-extra wp-availability';
    this.group.setAttribute('role', 'group');
    this.group.setAttribute('aria-label', 'Availability');
    this.group.style.gridTemplateColumns = '1fr 1fr 1fr';
    this.group.hidden = true;
    this.buttons = {};
    for (const [state, name] of STATES) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = name;
      b.setAttribute('aria-pressed', 'false');
      b.addEventListener('click', () => this.choose(state));
      this.group.appendChild(b);
      this.buttons[state] = b;
    }
    phone.v.detail.after(this.group);
  }

  /** Wires the listeners of one protocol client (called after the phone's, for each new client). */
  listen(client) {
    const on = (name, fn) => client.addEventListener(name, (e) => fn.call(this, e.detail || {}));
    on('OnSession', (f) => { this.group.hidden = !f.agent; });
    on('OnAvailabilityChanged', (f) => { this.state = f.state; this.show(); });
    on('OnRegistrationStateChanged', () => this.show());
    on('OnSetReadyStatus', () => this.show());
    on('disconnected', (f) => {
      this.group.hidden = true;
      if (f.code === 4003) this.phone.detail('This agent signed in again in another window.');
    });
  }

  choose(state) {
    const c = this.phone.client;
    if (!c) return;
    c.request('SetAvailability', { state }).catch((e) => this.phone.detail(e.message));
  }

  /** The status for an idle phone: "Ready", or the availability's words. */
  idleStatus() {
    return (!this.group.hidden && IDLE_WORDS[this.state]) || 'Ready';
  }

  show() {
    for (const [state] of STATES) this.buttons[state].setAttribute('aria-pressed', String(state === this.state));
    if (this.group.hidden || this.phone.call) return;
    const now = this.phone.v.status.textContent;
    if (!REPLACEABLE.includes(now)) return; // "Call ended" and the like stay until the phone moves on
    if (this.state !== 'Available') this.phone.status(IDLE_WORDS[this.state]);
    else if (this.phone.ready) this.phone.status('Ready');
  }
}
