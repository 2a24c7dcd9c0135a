// A second call on the full phone (docs/embedding.md, docs/protocol.md "Two calls"): call waiting and attended
// transfer. Accessible names are part of the contract: buttons "Decline" (the call waiting), "Swap", "Consult"
// (calls the number of the "Transfer to" box, holding the customer), "Complete transfer" and "Cancel transfer";
// the status "Call waiting from <caller>", and the transfer words of transfer-view.js on the customer's call.
//
// The phone's call and RTCPeerConnection (phone.call, phone.pc) are always the active call's; the other call
// and its own RTCPeerConnection wait here (this.other) while it rings, is held, or is the consult's customer.
// An agent's audio path (persistent-audio) carries both calls instead: no second RTCPeerConnection, no sdp; the
// gateway switches the path to the active call (Accept, Consult, Swap, the end of one call).

import { autoAnswerTone, completeOffer, newPeerConnection } from './media.js';

const FINAL = ['Completed', 'Busy', 'Rejected', 'Cancelled', 'Error'];
const ANSWERED = ['InCall', 'LocalHeld', 'RemoteHeld'];

function button(name) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = name;
  return b;
}

export class SecondCall {
  /** phone: the <web-phone> element (its call, pc, client, startMedia(), status(), showCallState()). */
  constructor(phone) {
    this.phone = phone;
    this.other = null; // { call, pc }
    const box = document.createElement('div');
    box.className = 'wp-extra wp-second';
    this.decline = button('Decline');
    this.swap = button('Swap');
    this.consult = button('Consult');
    this.complete = button('Complete transfer');
    this.cancel = button('Cancel transfer');
    box.append(this.decline, this.swap, this.consult, this.complete, this.cancel);
    phone.v.root.insertBefore(box, phone.v.root.querySelector('details'));
    this.decline.addEventListener('click', () => this.declineWaiting());
    this.swap.addEventListener('click', () => this.swapCalls());
    this.consult.addEventListener('click', () => this.startConsult());
    this.complete.addEventListener('click', () => this.act('CompleteTransfer'));
    this.cancel.addEventListener('click', () => this.act('CancelTransfer'));
  }

  /** OnCallRequest with waiting: true while the phone is in a call. */
  onWaiting(f) {
    if (this.other) return;
    this.other = { call: { id: f.callId, incoming: true, ringing: true, state: 'Ringing', caller: f.caller }, pc: null };
    autoAnswerTone(); // the waiting tone: short, over the call's audio
    this.phone.status('Call waiting from ' + (f.caller || f.displayName || 'unknown'));
  }

  /**
   * After a resume (a reload, a takeover): the session's other call as OnSession's calls[1] describes it (or none).
   * A waiting call rings here again; an answered one (held, or the consult's customer) gets its own new browser
   * leg, as the active call does (Offer {callId}; the SIP call never noticed).
   */
  async restore(d) {
    const p = this.phone;
    const o = this.other;
    if (d && o && o.call.id === d.callId && (d.waiting || (o.pc && o.pc.connectionState !== 'closed'))) {
      o.call.state = d.state; // the same page: its connection for that call is still there
      return;
    }
    this.drop();
    if (!d) { p.updateButtons(); return; }
    const call = { id: d.callId, incoming: d.direction === 'in', state: d.state, caller: d.caller, consult: !!d.consult,
      ringing: !!d.waiting };
    this.other = { call, pc: null };
    if (call.ringing) {
      p.status('Call waiting from ' + (d.caller || 'unknown'));
      p.updateButtons();
      return;
    }
    try {
      const pc = newPeerConnection(() => (p.client && p.client.iceServers) || []);
      this.other.pc = pc;
      if (p.stream) p.stream.getAudioTracks().forEach((t) => pc.addTrack(t, p.stream));
      const sdp = await completeOffer(pc);
      if (!this.other || this.other.call !== call) { pc.close(); return; }
      await p.client.request('Offer', { callId: call.id, sdp });
    } catch (e) {
      p.detail('Could not restore the audio of the other call: ' + (e && e.message ? e.message : e));
    }
    p.updateButtons();
  }

  /** Answer to the other call's new leg ({@link restore}): true when it was about that call. */
  onAnswer(f) {
    const o = this.other;
    if (!o || o.call.id !== f.callId || !o.pc) return false;
    o.pc.setRemoteDescription({ type: 'answer', sdp: f.sdp }).catch((e) => this.phone.detail(e.message));
    return true;
  }

  waitingRings() {
    return !!(this.other && this.other.call.ringing);
  }

  /** The second call's offer: none on the agent's audio path (it carries the active call), else a new connection. */
  async offer(call) {
    const p = this.phone;
    call.onPath = !!(p.path && p.path.isOpen);
    if (call.onPath) p.path.live(true);
    return call.onPath ? {} : { sdp: await p.startMedia() };
  }

  /** "Call" while a call waits: the gateway holds the active call; the waiting one gets a new RTCPeerConnection. */
  async acceptWaiting() {
    const p = this.phone;
    const waiting = this.other.call;
    waiting.ringing = false;
    this.park();
    p.call = waiting;
    try {
      await p.client.request('Accept', { callId: waiting.id, ...(await this.offer(waiting)) });
      p.offerSent(waiting);
    } catch (e) {
      p.detail(e && e.message ? e.message : String(e));
    }
    p.updateButtons();
  }

  declineWaiting() {
    if (!this.waitingRings()) return;
    this.phone.client.request('Reject', { callId: this.other.call.id }).catch((e) => this.phone.detail(e.message));
  }

  /** Consult: holds the customer (the gateway does), calls the "Transfer to" number on a new RTCPeerConnection. */
  async startConsult() {
    const p = this.phone;
    const number = p.transferControl ? p.transferControl.number.value.trim() : '';
    if (!number) { p.detail('Enter the number to consult'); return; }
    const customer = p.call;
    const consult = { id: null, incoming: false, state: 'Created', consult: true };
    this.park();
    p.call = consult;
    p.status('Calling', 'consulting ' + number);
    try {
      const ack = await p.client.request('Consult', { callId: customer.id, number, ...(await this.offer(consult)) });
      consult.id = ack.callId;
      p.offerSent(consult);
    } catch (e) {
      // Refused (the dial policy, or the call changed): back to the customer as it was.
      if (p.pc) p.pc.close();
      p.call = customer;
      p.pc = this.other ? this.other.pc : null;
      this.other = null;
      this.listen(p.pc);
      p.status('Transfer failed', e && e.message ? e.message : String(e));
    }
    p.updateButtons();
  }

  async swapCalls() {
    const p = this.phone;
    try {
      await p.client.request('Swap', {});
      const held = this.other;
      this.other = { call: p.call, pc: p.pc };
      p.call = held.call;
      p.pc = held.pc;
      this.listen(p.pc);
      p.showCallState(p.call.state);
    } catch (e) {
      p.detail(e.message);
    }
  }

  async act(method) {
    const p = this.phone;
    try {
      await p.client.request(method, {});
      if (method === 'CompleteTransfer') p.status('Transferring');
    } catch (e) {
      p.status('Transfer failed', e && e.message ? e.message : String(e));
    }
  }

  /** Moves the active call and its RTCPeerConnection aside (the gateway holds it). */
  park() {
    const p = this.phone;
    this.other = { call: p.call, pc: p.pc };
    p.pc = null; // startMedia() must not close the parked call's connection
  }

  /** The active call's audio to the speaker. */
  listen(pc) {
    const v = this.phone.v;
    if (!pc || !v.remote) return;
    const tracks = pc.getReceivers().map((r) => r.track).filter((t) => t);
    v.remote.srcObject = tracks.length ? new MediaStream(tracks) : null;
    v.remote.play().catch(() => {});
  }

  /** OnCallStateChanged: true when it was about the other call (handled here). */
  onCallState(f) {
    const o = this.other;
    if (!o || o.call.id !== f.callId) return false;
    o.call.state = f.state;
    if (FINAL.includes(f.state)) {
      if (o.pc) o.pc.close();
      this.other = null;
      const p = this.phone;
      if (p.call) p.showCallState(p.call.state);
      if (o.call.transferred) p.status('Transferred');
    }
    this.phone.updateButtons();
    return true;
  }

  /** OnTransferStateChanged about the held customer of a consult: true when handled here. */
  onTransfer(f) {
    const o = this.other;
    if (!o || o.call.id !== f.callId || f.direction === 'in') return false;
    const text = ((f.code || '') + ' ' + (f.reason || '')).trim();
    if (f.code >= 200 && f.code < 300) {
      o.call.transferred = true;
      this.phone.status('Transferred', text);
    } else {
      this.phone.status(f.code >= 300 ? 'Transfer failed' : 'Transferring', text);
    }
    return true;
  }

  /**
   * The active call ended while another waits here: only its connection closes (the microphone stays for the
   * other), and the other becomes the active call as it is (held, or ringing). True when that happened.
   */
  promote(text, detail) {
    const p = this.phone;
    const o = this.other;
    if (!o) return false;
    if (p.pc) p.pc.close();
    this.other = null;
    p.call = o.call;
    p.pc = o.pc;
    this.listen(p.pc);
    if (p.path && o.call.onPath) p.path.play(); // the gateway moved the path back to this call
    else if (p.path && o.call.ringing) p.path.live(false); // nothing on the path until this call is answered
    if (o.call.ringing) p.status('Incoming call from ' + (o.call.caller || 'unknown'));
    else p.showCallState(o.call.state);
    p.detail([text, detail].filter((x) => x).join(': '));
    return true;
  }

  /** The socket is gone: the other call's connection closes too. */
  drop() {
    if (this.other && this.other.pc) this.other.pc.close();
    this.other = null;
  }

  update() {
    const p = this.phone;
    const c = p.call;
    const o = this.other;
    const answered = (x) => !!x && !!x.id && ANSWERED.includes(x.state);
    this.decline.disabled = !this.waitingRings();
    this.swap.disabled = !(answered(c) && o && answered(o.call));
    this.consult.disabled = !answered(c) || !!o;
    const consulting = !!o && (!!(c && c.consult) || !!o.call.consult);
    this.complete.disabled = !consulting || !answered(c) || !answered(o.call);
    this.cancel.disabled = !consulting;
  }
}
