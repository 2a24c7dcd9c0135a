// <web-phone>: the browser phone of the gateway, as a custom element (docs/embedding.md).
//   <script type="module" src="https://gateway.example/js/web-phone.js"></script>
//   <web-phone></web-phone>                                   full phone, connects at once
//   <web-phone number="1000" label="Call sales"></web-phone>  click-to-call: one button
// Attributes: gateway (ws(s) URL; default: /ws of the host that served this script), token (access
// token), number + label (click-to-call), persistent-audio (an agent's audio path kept between calls) and
// auto-answer (with persistent-audio; its value: the delay in ms, empty: the gateway's). The last element created is window.webphone (tests use
// window.webphone.pc for getStats()).

import { WebphoneClient, defaultGatewayUrl } from './webphone-client.js';
import { newPeerConnection, trickleOffer, offerNow, candidateFields, Ringtone, keyTone, levelMeter, AudioPath, autoAnswerTone } from './media.js';
import { buildPhone, buildClickToCall } from './phone-view.js';
import { TransferControl } from './transfer-view.js';
import { SecondCall } from './second-call.js';

import { AvailabilityControls } from './availability.js';

const END_TEXT = { Completed: 'Call ended', Busy: 'Busy', Rejected: 'Rejected', Cancelled: 'Cancelled' };
const ERROR_TEXT = { NotFound: 'Not found', Unavailable: 'Unavailable' };
const BACK_TO_READY_MS = 3000;
const RESTORE_WAIT_MS = 4000;
/** A restart that has not connected by then is tried again (the network may still have been down). */
const RESTART_RETRY_MS = 4000;

const STABLE_WAIT_MS = 4000;

/** The codec an answer SDP picked: the rtpmap of the audio m-line's first format (opus/48000/2, PCMU/8000). */
function answeredCodec(sdp) {
  const m = /^m=audio \d+ \S+ (\d+)/m.exec(sdp || '');
  if (!m) return '';
  const map = new RegExp('^a=rtpmap:' + m[1] + ' (\\S+)', 'm').exec(sdp);
  return map ? map[1] : { 0: 'PCMU/8000', 8: 'PCMA/8000', 9: 'G722/8000' }[m[1]] || '';
}

/** Resolves once no offer/answer is in progress on pc (bounded: a stuck exchange must not hang the call). */
function stable(pc, waitMs) {
  return new Promise((resolve) => {
    if (pc.signalingState === 'stable') { resolve(); return; }
    const done = () => { clearTimeout(t); pc.removeEventListener('signalingstatechange', check); resolve(); };
    const check = () => { if (pc.signalingState === 'stable' || pc.signalingState === 'closed') done(); };
    const t = setTimeout(done, waitMs);
    pc.addEventListener('signalingstatechange', check);
  });
}

const CONNECTING_AUDIO = 'Connecting audio…';
const NO_AUDIO_PATH = 'No audio path: your network blocks the call';

/** Resolves when the peer connection is connected, or after waitMs (the status must not hang). */
function connected(pc, waitMs) {
  return new Promise((resolve) => {
    if (pc.connectionState === 'connected') { resolve(); return; }
    const done = () => { clearTimeout(t); pc.removeEventListener('connectionstatechange', check); resolve(); };
    const check = () => { if (pc.connectionState === 'connected' || pc.connectionState === 'failed') done(); };
    const t = setTimeout(done, waitMs);
    pc.addEventListener('connectionstatechange', check);
  });
}

class WebPhone extends HTMLElement {
  connectedCallback() {
    if (this.v) return;
    this.clickToCall = this.hasAttribute('number');
    this.v = this.clickToCall
      ? buildClickToCall(this, this.getAttribute('label') || 'Call')
      : buildPhone(this);
    this.call = null;
    this.pc = null;
    this.stream = null;
    this.lastError = null;
    this.ready = false;
    this.ringtone = new Ringtone(this.v.ring);
    this.transferControl = this.clickToCall ? null : new TransferControl(this);
    this.secondCall = this.clickToCall ? null : new SecondCall(this);

    this.availability = this.clickToCall ? null : new AvailabilityControls(this);
    window.webphone = this;
    this.wire();
    if (!this.clickToCall) this.connect();
  }

  disconnectedCallback() {
    if (this.client) this.client.close();
    this.endMedia();
    this.closePath();
  }

  connect() {
    const url = this.getAttribute('gateway') || defaultGatewayUrl(import.meta.url);
    const c = new WebphoneClient(url, {
      token: this.getAttribute('token'),
      storageKey: 'webphone.resume.' + (this.getAttribute('number') || 'phone'),
    });
    this.client = c;
    this.status('Connecting');
    const on = (name, fn) => c.addEventListener(name, (e) => fn.call(this, e.detail || {}));
    on('OnSession', this.onSession);
    on('OnRegistrationStateChanged', this.onRegistration);
    on('OnSetReadyStatus', this.onReady);
    on('OnCallRequest', this.onCallRequest);
    on('Answer', this.onAnswer);
    on('OnRenegotiate', this.onRenegotiate);
    on('OnCallErrorOccurred', (f) => { this.lastError = f; });
    on('OnAudioPath', (f) => { if (f.state === 'failed') { this.closePath(); this.detail('Audio path failed: ' + (f.reason || '')); } });
    on('OnCallStateChanged', this.onCallState);
    on('OnInCall', () => this.startTimer());
    on('OnTransferStateChanged', (f) => (this.secondCall && this.secondCall.onTransfer(f))
      || (this.transferControl && this.transferControl.onState(f)));
    on('OnDtmfReceived', (f) => this.transferControl && this.transferControl.onDtmf(f));
    on('OnMediaStateChanged', (f) => {
      if (f.state === 'failed' && /ICE/.test(f.reason || '')) this.audioState(NO_AUDIO_PATH);
    });
    on('Error', this.onError);
    on('reconnecting', () => this.status('Reconnecting'));
    on('disconnected', this.onDisconnected);
    if (this.availability) this.availability.listen(c);
    c.connect();
  }

  // ---------------------------------------------------------------- server events

  onSession(f) {
    if (f.resumed && f.call) {
      const known = this.call && this.call.id === f.call.callId;
      this.call = known ? this.call : { id: f.call.callId, incoming: f.call.direction === 'in' };
      this.call.state = f.call.state;
      if (f.call.state === 'Ringing' && this.call.incoming) {
        this.call.ringing = true;
        this.showCallState(f.call.state);
      } else {
        // The call is there, its audio not yet: "Reconnecting" until the new browser leg is up.
        this.call.restoring = true;
        this.status('Reconnecting');
        // Same page, same RTCPeerConnection: an ICE restart keeps its DTLS association; a reloaded page
        // has none left and offers a new one.
        const back = known && this.pc && this.pc.connectionState !== 'closed'
          ? this.restartIce() : this.renegotiate(f.call.callId);
        // The session's other call (held, the consult's customer, or waiting) comes back too, once the
        // microphone is there again (docs/protocol.md, "Resume": calls).
        if (this.secondCall) back.then(() => this.secondCall.restore((f.calls || [])[1]));
      }
      if (f.calls && f.calls[0] && f.calls[0].consult) this.call.consult = true;
    } else if (this.call) {
      this.finishCall('Call ended'); // the session (and the call) did not survive
    }
  }

  onRegistration(f) {
    if (f.state === 'Connection limit') {
      this.status('Connection limit');
    } else if (f.state === 'Waiting') {
      this.status('Connection limit', 'All lines are busy; you are number ' + f.position + ' in line.');
    } else if (f.state === 'Registering' && !this.call) {
      this.status('Registering');
    } else if (f.state === 'Failed') {
      this.ready = false;
      this.status('Unavailable', f.reason ? 'Registration failed: ' + f.reason : 'Registration failed');
    } else if (f.state === 'Unregistered' && !this.call) {
      this.ready = false;
      this.status('Unavailable', 'The line is not registered');
    }
  }

  onReady(f) {
    this.ready = !!f.ready;
    if (this.ready && !this.call) this.status(this.idleStatus());
    if (this.ready && this.hasAttribute('persistent-audio') && !this.path) this.openPath();
    if (this.ready && this.clickToCall && this.wantCall) {
      this.wantCall = false;
      this.dial(this.getAttribute('number'));
    }
  }

  onCallRequest(f) {
    if (this.call) {
      if (f.waiting && this.secondCall) this.secondCall.onWaiting(f);
      return;
    }
    this.call = { id: f.callId, incoming: true, ringing: true, state: 'Ringing', onPath: !!f.autoAnswer };
    this.status('Incoming call from ' + (f.caller || f.displayName || 'unknown'),
      f.displayName && f.displayName !== f.caller ? f.displayName : '');
    if (f.autoAnswer) { this.call.ringing = false; autoAnswerTone(); } else this.ringtone.start();
    this.updateButtons();
  }

  async onAnswer(f) {
    if (this.secondCall && this.secondCall.onAnswer(f)) return; // the other call's new leg, after a resume
    if (this.call && !this.call.id && !this.call.incoming) this.call.id = f.callId;
    if (!this.pc || !this.call || this.call.id !== f.callId) return;
    try {
      const pc = this.pc;
      await pc.setRemoteDescription({ type: 'answer', sdp: f.sdp });
      this.showCodec(answeredCodec(f.sdp));
      this.watchAudio(pc);
      const call = this.call;
      if (call && call.restoring) {
        await connected(pc, RESTORE_WAIT_MS);
        if (this.call === call && call.restoring) {
          call.restoring = false;
          this.showCallState(call.state);
        }
      }
    } catch (e) {
      this.status('Call ended', 'Media failed: ' + e.message);
      this.hangUp();
    }
  }

  /**
   * The PBX chose a codec (Opus, G.722) other than the one this leg was answered with: a new offer on the
   * same PeerConnection (same ICE credentials and DTLS, so the audio path stays), answered by `Answer`.
   */
  async onRenegotiate(f) {
    const pc = this.pc;
    if (!pc || !this.call || this.call.id !== f.callId) return;
    try {
      await stable(pc, STABLE_WAIT_MS);
      if (this.pc !== pc) return;
      const sdp = await offerNow(pc);
      await this.client.request('Offer', { callId: f.callId, sdp });
    } catch (e) {
      this.detail('Could not switch to ' + f.codec + ': ' + (e.message || e));
    }
  }

  onCallState(f) {
    if (this.secondCall && this.secondCall.onCallState(f)) return; // the other call (waiting, held)
    if (this.call && !this.call.id && !this.call.incoming) this.call.id = f.callId;
    if (!this.call || this.call.id !== f.callId) return;
    this.call.state = f.state;
    if (f.state !== 'Ringing' || !this.call.incoming) this.call.ringing = false;
    if (f.state === 'InCall' && this.call.onPath && this.path) this.path.live(true);
    if (this.call.restoring && !['Completed', 'Busy', 'Rejected', 'Cancelled', 'Error'].includes(f.state)) {
      this.updateButtons(); // the status says "Reconnecting" until the audio is back
      return;
    }
    if (['Completed', 'Busy', 'Rejected', 'Cancelled', 'Error'].includes(f.state)) {
      const err = this.lastError && this.lastError.callId === f.callId ? this.lastError : null;
      const text = f.state === 'Error' ? (ERROR_TEXT[err && err.error] || 'Call ended') : END_TEXT[f.state];
      if (f.state === 'Completed' && this.call.transferred) this.finishCall('Transferred');
      else this.finishCall(text, f.reason && f.state !== 'Completed' ? f.reason : '');
      return;
    }
    this.showCallState(f.state);
  }

  onError(f) {
    if (!f.method) {
      // A refusal at connect time (origin, token, limits): the socket closes next.
      this.status('Disconnected', f.message);
    }
  }

  onDisconnected() {
    if (this.v.status.textContent !== 'Connection limit') this.status('Disconnected');
    this.ready = false;
    this.closePath(); // the session, and its path at the gateway, are gone
    if (this.secondCall) this.secondCall.drop();
    if (this.call) {
      this.call = null;
      this.endMedia();
    }
    this.updateButtons();
  }

  // ---------------------------------------------------------------- user actions

  async dial(number) {
    number = (number || '').trim();
    if (!number) { this.detail('Enter a number'); return; }
    if (this.call) return;
    if (!this.client || !this.ready) { this.detail('Not ready yet'); return; }
    const call = { id: null, incoming: false, state: 'Created' };
    this.call = call;
    this.status('Calling');
    try {
      if (this.path && this.path.isOpen) { // the agent's audio path: no offer, no new handshake
        call.onPath = true;
        this.path.live(true);
      }
      const sdp = call.onPath ? null : await this.startMedia();
      if (this.call !== call) return; // hung up while preparing
      const ack = await this.client.request('Call', sdp ? { number, sdp } : { number });
      call.id = ack.callId;
      this.offerSent(call);
      if (this.call !== call) this.client.request('HangUp', { callId: ack.callId }).catch(() => {});
    } catch (e) {
      if (this.call !== call) return;
      this.call = null;
      this.endMedia();
      if (e && e.name === 'NotAllowedError') {
        this.status('Microphone blocked', 'Allow the microphone for this site to call.');
      } else {
        this.status(this.ready ? 'Ready' : 'Disconnected', e && e.message ? e.message : String(e));
      }
    }
  }

  async accept() {
    const call = this.call;
    if (!call || !call.incoming || !call.ringing) return;
    call.ringing = false;
    this.ringtone.stop();
    try {
      call.onPath = !!(this.path && this.path.isOpen);
      const sdp = call.onPath ? null : await this.startMedia();
      if (this.call !== call) return;
      await this.client.request('Accept', sdp ? { callId: call.id, sdp } : { callId: call.id });
      this.offerSent(call);
    } catch (e) {
      if (this.call !== call) return;
      if (e && e.name === 'NotAllowedError') {
        call.ringing = true;
        this.status('Microphone blocked', 'Allow the microphone for this site to answer.');
      } else {
        this.detail(e && e.message ? e.message : String(e));
      }
    }
  }

  hangUp() {
    const call = this.call;
    if (!call) { if (this.v.number) this.v.number.value = ''; return; }
    if (call.incoming && call.ringing) {
      this.client.request('Reject', { callId: call.id }).catch(() => {});
    } else if (call.id) {
      this.client.request('HangUp', { callId: call.id }).catch(() => {});
    } else {
      this.finishCall('Call ended'); // still preparing the offer: nothing was sent yet
    }
  }

  toggleHold() {
    const c = this.call;
    if (!c || !c.id) return;
    if (c.state === 'LocalHeld') this.client.request('Unhold', { callId: c.id }).catch((e) => this.detail(e.message));
    else if (c.state === 'InCall' || c.state === 'RemoteHeld') this.client.request('Hold', { callId: c.id }).catch((e) => this.detail(e.message));
  }

  toggleMute() {
    if (!this.stream) return;
    const track = this.stream.getAudioTracks()[0];
    if (!track) return;
    track.enabled = !track.enabled;
    this.updateButtons();
  }

  press(key) {
    const c = this.call;
    keyTone(key);
    if (c && c.id && ['InCall', 'RemoteHeld'].includes(c.state)) {
      this.client.request('SendDTMF', { callId: c.id, digits: key }).catch((e) => this.detail(e.message));
    } else if (this.v.number) {
      this.v.number.value += key;
    }
  }

  // ---------------------------------------------------------------- media

  async startMedia() {
    const micId = this.v.mic && this.v.mic.value;
    if (!this.stream || !this.stream.getAudioTracks().some((t) => t.readyState === 'live')) {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: micId ? { deviceId: { exact: micId } } : true });
      this.fillDevices();
      if (this.v.meter) this.stopMeter = levelMeter(this.stream, (x) => { this.v.meter.value = x; });
    }
    if (this.pc) this.pc.close();
    const pc = newPeerConnection(() => (this.client && this.client.iceServers) || []);
    this.pc = pc;
    this.stream.getAudioTracks().forEach((t) => pc.addTrack(t, this.stream));
    pc.addEventListener('connectionstatechange', () => this.onConnectionState(pc));
    pc.ontrack = (e) => {
      this.v.remote.srcObject = e.streams[0] || new MediaStream([e.track]);
      this.v.remote.play().catch(() => {});
    };
    this.trickled = [];
    return trickleOffer(pc, (c) => this.trickle(pc, c));
  }

  /** Trickle ICE: a gathered candidate (null: the end) goes out once the gateway has the call's offer. */
  trickle(pc, c) {
    if (pc !== this.pc) return;
    const fields = candidateFields(c);
    if (this.trickled) { this.trickled.push(fields); return; }
    this.sendCandidate(fields);
  }

  /** The offer of this.pc reached the gateway: the candidates gathered meanwhile follow, later ones at once. */
  offerSent(call) {
    const queued = this.trickled || [];
    this.trickled = null;
    if (this.call === call) queued.forEach((f) => this.sendCandidate(f));
  }

  sendCandidate(fields) {
    const c = this.call;
    if (!c || !c.id || !this.client) return;
    this.client.request('Candidate', { callId: c.id, ...fields })
      .catch((e) => console.warn('candidate not taken:', e && e.message));
  }

  /** From the answer until audio flows: "Connecting audio…", then nothing, or the reason there is none. */
  watchAudio(pc) {
    if (pc.audioWatched) return;
    pc.audioWatched = true;
    const show = () => {
      if (pc !== this.pc) return;
      const s = pc.connectionState;
      if (s === 'connected') this.audioState('');
      else if (s === 'failed') this.audioState(NO_AUDIO_PATH);
      else if (this.audioNote !== NO_AUDIO_PATH) this.audioState(CONNECTING_AUDIO);
    };
    pc.addEventListener('connectionstatechange', show);
    show();
  }

  /** Shows the audio note in the detail line unless that line says something else. */
  audioState(note) {
    const d = this.v.detail.textContent;
    const shown = !d || d === this.audioNote;
    this.audioNote = note;
    if (shown) this.v.detail.textContent = note;
  }

  /** After a resume: a new browser leg for the same call (the SIP leg never noticed). */
  async renegotiate(callId) {
    try {
      const sdp = await this.startMedia();
      await this.client.request('Offer', { callId, sdp });
      if (this.call && this.call.id === callId) this.offerSent(this.call);
    } catch (e) {
      if (this.call && this.call.restoring) {
        this.call.restoring = false;
        this.showCallState(this.call.state);
      }
      this.detail('Could not restore the audio: ' + (e.message || e));
    }
  }

  /** The network under the call changed or broke: restart ICE while the socket is still up. */
  onConnectionState(pc) {
    if (pc !== this.pc || !this.call || !this.call.id) return;
    if (['disconnected', 'failed'].includes(pc.connectionState)) this.restartIce();
  }

  socketUp() {
    return !!(this.client && this.client.ws && this.client.ws.readyState === WebSocket.OPEN);
  }

  /**
   * An ICE restart inside the running RTCPeerConnection: new ICE credentials, the same DTLS association
   * (docs/protocol.md, Offer). One at a time; tried again while the call lasts and the audio is not back.
   */
  async restartIce() {
    const pc = this.pc;
    const call = this.call;
    if (!pc || !call || !call.id || this.restarting || !this.socketUp()) return;
    this.restarting = true;
    try {
      pc.restartIce();
      const sdp = await offerNow(pc, true);
      if (this.pc !== pc || this.call !== call) return;
      await this.client.request('Offer', { callId: call.id, sdp });
      // The Answer event comes before the Ack; wait until it has been applied.
      await new Promise((resolve) => {
        const t = setTimeout(resolve, RESTORE_WAIT_MS);
        const check = () => {
          if (pc.signalingState !== 'stable') return;
          clearTimeout(t); pc.removeEventListener('signalingstatechange', check); resolve();
        };
        pc.addEventListener('signalingstatechange', check);
        check();
      });
    } catch (e) {
      this.detail('Could not restore the audio: ' + (e.message || e));
      // Refused after a resume: a new RTCPeerConnection (a new DTLS association) is the other way back.
      if (this.call === call && call.restoring) { this.restarting = false; this.renegotiate(call.id); return; }
    } finally {
      this.restarting = false;
    }
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (this.pc === pc && this.call === call && pc.connectionState !== 'connected') this.restartIce();
    }, RESTART_RETRY_MS);
  }

  /** The agent's audio path (persistent-audio): opened once the line is ready, kept until the session ends. */
  async openPath() {
    const path = new AudioPath(() => (this.client && this.client.iceServers) || [], this.v.remote, this.v.meter);
    this.path = path;
    const delay = parseInt(this.getAttribute('auto-answer'), 10);
    try {
      await path.open(this.client, { autoAnswer: this.hasAttribute('auto-answer'),
        autoAnswerDelayMs: Number.isNaN(delay) ? undefined : delay });
    } catch (e) {
      if (this.path === path) this.closePath();
      this.detail('No audio path: ' + ((e && e.message) || e));
    }
  }

  closePath() {
    if (this.path) { this.path.close(); this.path = null; }
  }

  endMedia() {
    clearTimeout(this.restartTimer);
    if (this.path) this.path.live(false);
    if (this.pc) { this.pc.close(); this.pc = null; }
    this.audioNote = '';
    if (this.stopMeter) { this.stopMeter(); this.stopMeter = null; }
    if (this.stream) { this.stream.getTracks().forEach((t) => t.stop()); this.stream = null; }
    this.ringtone.stop();
    if (this.v.remote) this.v.remote.srcObject = null;
    this.stopTimer();
    this.showCodec('');
  }

  /** The call's codec next to the status (opus/48000/2 for wideband pass-through, PCMU/8000 for G.711). */
  showCodec(codec) {
    this.codec = codec;
    if (this.v.codec) this.v.codec.textContent = codec;
  }

  async fillDevices() {
    if (!this.v.mic || !navigator.mediaDevices.enumerateDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    const fill = (select, kind) => {
      const keep = select.value;
      select.replaceChildren(...devices.filter((d) => d.kind === kind).map((d, i) => {
        const o = document.createElement('option');
        o.value = d.deviceId;
        o.textContent = d.label || kind + ' ' + (i + 1);
        return o;
      }));
      if (keep) select.value = keep;
    };
    fill(this.v.mic, 'audioinput');
    fill(this.v.speaker, 'audiooutput');
    fill(this.v.ringer, 'audiooutput');
  }

  // ---------------------------------------------------------------- view

  finishCall(text, detail = '') {
    if (this.secondCall && this.secondCall.promote(text, detail)) { this.updateButtons(); return; }
    if (this.audioNote === NO_AUDIO_PATH) detail = NO_AUDIO_PATH; // why the call ended, for the caller
    this.call = null;
    this.lastError = null;
    this.endMedia();
    this.status(text, detail);
    this.updateButtons();
    clearTimeout(this.readyTimer);
    this.readyTimer = setTimeout(() => {
      if (!this.call && this.ready) this.status(this.idleStatus());
      if (this.clickToCall && !this.call && this.client) {
        this.client.close(); // click-to-call holds a line only while calling
        this.client = null;
        this.ready = false;
        this.status('');
      }
    }, BACK_TO_READY_MS);
  }

  /** "Ready", or an agent's availability words (availability.js). */
  idleStatus() {
    return this.availability ? this.availability.idleStatus() : 'Ready';
  }

  showCallState(state) {
    const c = this.call;
    const text = {
      Created: 'Calling', Setup: 'Calling', Ringing: c && c.incoming ? null : 'Ringing',
      RingingWithEarlyMedia: 'Ringing', InCall: 'In call', LocalHeld: 'On hold', RemoteHeld: 'Held by remote',
    }[state];
    if (text) this.status(text);
    if (state === 'InCall') { this.ringtone.stop(); this.startTimer(); }
    this.updateButtons();
  }

  status(text, detail = '') {
    this.v.status.textContent = text;
    this.detail(detail);
    this.updateButtons();
  }

  detail(text) {
    this.v.detail.textContent = text || this.audioNote || '';
  }

  startTimer() {
    if (this.timer) return;
    const t0 = Date.now();
    const show = () => {
      const s = Math.floor((Date.now() - t0) / 1000);
      this.v.timer.textContent = String(Math.floor(s / 60)).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0');
    };
    show();
    this.timer = setInterval(show, 1000);
  }

  stopTimer() {
    clearInterval(this.timer);
    this.timer = null;
    this.v.timer.textContent = '';
  }

  updateButtons() {
    const c = this.call;
    if (this.clickToCall) {
      this.v.button.textContent = c ? 'Hang up' : (this.getAttribute('label') || 'Call');
      this.v.button.className = c ? 'wp-hangup wp-one' : 'wp-call wp-one';
      return;
    }
    const v = this.v;
    v.call.disabled = !!c && !(c.incoming && c.ringing) && !(this.secondCall && this.secondCall.waitingRings());
    v.hangup.disabled = false;
    v.hold.textContent = c && c.state === 'LocalHeld' ? 'Resume' : 'Hold';
    v.hold.disabled = !c || !['InCall', 'LocalHeld', 'RemoteHeld'].includes(c.state);
    const track = this.stream && this.stream.getAudioTracks()[0];
    v.mute.textContent = track && !track.enabled ? 'Unmute' : 'Mute';
    v.mute.disabled = !c || !track;
    if (this.transferControl) this.transferControl.update();
    if (this.secondCall) this.secondCall.update();
  }

  wire() {
    const v = this.v;
    if (this.clickToCall) {
      v.button.addEventListener('click', () => {
        if (this.call) { this.hangUp(); return; }
        if (!this.client) { this.wantCall = true; this.connect(); return; }
        this.dial(this.getAttribute('number'));
      });
      return;
    }
    v.call.addEventListener('click', () => {
      if (this.secondCall && this.secondCall.waitingRings()) this.secondCall.acceptWaiting();
      else if (this.call && this.call.incoming && this.call.ringing) this.accept();
      else this.dial(v.number.value);
    });
    v.hangup.addEventListener('click', () => this.hangUp());
    v.hold.addEventListener('click', () => this.toggleHold());
    v.mute.addEventListener('click', () => this.toggleMute());
    for (const [k, b] of Object.entries(v.keyButtons)) b.addEventListener('click', () => this.press(k));
    v.number.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); v.call.click(); }
    });
    // Typing digits anywhere else on the page acts on the keypad (DTMF during a call).
    document.addEventListener('keydown', (e) => {
      const t = e.target;
      if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
      if (/^[0-9*#]$/.test(e.key)) { e.preventDefault(); this.press(e.key); }
      else if (e.key === 'Enter' && this.call && this.call.incoming && this.call.ringing) this.accept();
      else if (e.key === 'Escape') this.hangUp();
    });
    v.speaker.addEventListener('change', () => {
      if (v.remote.setSinkId) v.remote.setSinkId(v.speaker.value).catch((e) => this.detail(e.message));
    });
    v.ringer.addEventListener('change', () => {
      if (v.ring.setSinkId) v.ring.setSinkId(v.ringer.value).catch((e) => this.detail(e.message));
    });
    v.mic.addEventListener('change', async () => {
      if (!this.stream || !this.pc) return;
      try {
        const s = await navigator.mediaDevices.getUserMedia({ audio: { deviceId: { exact: v.mic.value } } });
        const track = s.getAudioTracks()[0];
        const sender = this.pc.getSenders().find((x) => x.track && x.track.kind === 'audio');
        if (sender) await sender.replaceTrack(track);
        this.stream.getTracks().forEach((t) => t.stop());
        this.stream = s;
        if (this.stopMeter) this.stopMeter();
        this.stopMeter = levelMeter(s, (x) => { v.meter.value = x; });
      } catch (e) {
        this.detail('Microphone change failed: ' + e.message);
      }
    });
    this.updateButtons();
  }
}

if (!customElements.get('web-phone')) customElements.define('web-phone', WebPhone);
