// Browser media helpers of the phone: the WebRTC offer (trickled: sent at once, candidates follow with the
// Candidate method; or complete, for clients that do not trickle), a WebAudio ringtone, DTMF feedback tones
// and a microphone level meter.

const GATHER_LIMIT_MS = 4000;

// Each peer connection's source of the newest iceServers (OnSession / OnIceServers): TURN credentials expire,
// so every offer, not only the first, takes the newest list (docs/protocol.md, "ICE servers").
const iceSources = new WeakMap();

/** A peer connection using iceServersNow() (the newest RTCIceServer list) now and before each of its offers. */
export function newPeerConnection(iceServersNow = () => []) {
  const pc = new RTCPeerConnection({
    bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require', iceServers: iceServersNow() || [],
  });
  iceSources.set(pc, iceServersNow);
  return pc;
}

function useNewestIceServers(pc) {
  const now = iceSources.get(pc);
  if (!now) return;
  try {
    pc.setConfiguration({ ...pc.getConfiguration(), iceServers: now() || [] });
  } catch (e) {
    console.warn('webphone: iceServers not applied:', e); // the offer goes on with the previous servers
  }
}

/** Creates the offer and waits for ICE gathering to finish (bounded), returning the full SDP. */
export async function completeOffer(pc, iceRestart = false) {
  useNewestIceServers(pc);
  const offer = await pc.createOffer(iceRestart ? { iceRestart: true } : undefined);
  await pc.setLocalDescription(offer);
  if (pc.iceGatheringState !== 'complete') {
    await new Promise((resolve) => {
      const done = () => { clearTimeout(t); pc.removeEventListener('icegatheringstatechange', check); resolve(); };
      const check = () => { if (pc.iceGatheringState === 'complete') done(); };
      const t = setTimeout(done, GATHER_LIMIT_MS);
      pc.addEventListener('icegatheringstatechange', check);
    });
  }
  return pc.localDescription.sdp;
}

/**
 * Creates the offer and returns its SDP at once, with whatever candidates it has (trickle ICE): onCandidate
 * gets each RTCIceCandidate as it is gathered, then null when gathering is complete, so a slow or unreachable
 * STUN/TURN server never holds the call back. Later offers on the same pc (offerNow) trickle through it too.
 */
export async function trickleOffer(pc, onCandidate, iceRestart = false) {
  pc.addEventListener('icecandidate', (e) => onCandidate(e.candidate && e.candidate.candidate ? e.candidate : null));
  return offerNow(pc, iceRestart);
}

/**
 * A further offer on a pc made with trickleOffer (an ICE restart, a codec change), returned at once with the
 * newest iceServers applied; its new candidates go out through the pc's trickle listener.
 */
export async function offerNow(pc, iceRestart = false) {
  useNewestIceServers(pc);
  const offer = await pc.createOffer(iceRestart ? { iceRestart: true } : undefined);
  await pc.setLocalDescription(offer);
  return pc.localDescription.sdp;
}

/** The Candidate frame's fields for a gathered candidate, or end-of-candidates for null. */
export function candidateFields(c) {
  if (!c) return { candidate: 'end-of-candidates' };
  const f = { candidate: c.candidate };
  if (c.sdpMid !== null && c.sdpMid !== undefined) f.sdpMid = c.sdpMid;
  if (c.sdpMLineIndex !== null && c.sdpMLineIndex !== undefined) f.sdpMLineIndex = c.sdpMLineIndex;
  if (c.usernameFragment) f.usernameFragment = c.usernameFragment;
  return f;
}

let ctx = null;
export function audioContext() {
  if (!ctx) ctx = new (window.AudioContext || window.webkitAudioContext)();
  if (ctx.state === 'suspended') ctx.resume().catch(() => {});
  return ctx;
}

/** North-American style ring (440+480 Hz, 2 s on, 4 s off) into an <audio> element (for the ring device). */
export class Ringtone {
  constructor(audioEl) {
    this.audioEl = audioEl;
    this.timer = null;
    this.nodes = null;
  }

  start() {
    if (this.timer) return;
    const ac = audioContext();
    const dest = ac.createMediaStreamDestination();
    const gain = ac.createGain();
    gain.gain.value = 0;
    gain.connect(dest);
    const oscs = [440, 480].map((f) => { const o = ac.createOscillator(); o.frequency.value = f; o.connect(gain); o.start(); return o; });
    this.nodes = { gain, oscs };
    this.audioEl.srcObject = dest.stream;
    this.audioEl.play().catch(() => {});
    const ring = () => {
      const t = ac.currentTime;
      gain.gain.setValueAtTime(0.15, t);
      gain.gain.setValueAtTime(0, t + 2);
    };
    ring();
    this.timer = setInterval(ring, 6000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    if (this.nodes) {
      this.nodes.oscs.forEach((o) => o.stop());
      this.nodes.gain.disconnect();
      this.nodes = null;
    }
    this.audioEl.srcObject = null;
  }
}

const DTMF_FREQS = {
  1: [697, 1209], 2: [697, 1336], 3: [697, 1477], 4: [770, 1209], 5: [770, 1336], 6: [770, 1477],
  7: [852, 1209], 8: [852, 1336], 9: [852, 1477], '*': [941, 1209], 0: [941, 1336], '#': [941, 1477],
};

/** A short local key tone so the caller hears the keypad. */
export function keyTone(digit) {
  const f = DTMF_FREQS[digit];
  if (!f) return;
  const ac = audioContext();
  const g = ac.createGain();
  g.gain.value = 0.05;
  g.connect(ac.destination);
  f.forEach((hz) => {
    const o = ac.createOscillator();
    o.frequency.value = hz;
    o.connect(g);
    o.start();
    o.stop(ac.currentTime + 0.12);
  });
}

/** Calls onLevel(0..1) ten times a second with the level of the stream's audio; returns stop(). */
export function levelMeter(stream, onLevel) {
  const ac = audioContext();
  const src = ac.createMediaStreamSource(stream);
  const an = ac.createAnalyser();
  an.fftSize = 512;
  src.connect(an);
  const buf = new Float32Array(an.fftSize);
  const t = setInterval(() => {
    an.getFloatTimeDomainData(buf);
    let sum = 0;
    for (const v of buf) sum += v * v;
    onLevel(Math.min(1, Math.sqrt(sum / buf.length) * 4));
  }, 100);
  return () => { clearInterval(t); src.disconnect(); };
}

/**
 * An agent's persistent audio path (docs/embedding.md, "Agents"): one RTCPeerConnection set up once, when the line
 * is ready, and kept between calls; calls placed or accepted without an sdp ride on it, so the gateway needs no new
 * ICE or DTLS handshake and the first words after the answer are heard. Between calls the microphone track is
 * disabled (the browser sends silence, the gateway forwards nothing) and the level meter says "Microphone idle".
 */
export class AudioPath {
  constructor(iceServersNow, remoteEl, meterEl) {
    this.iceServersNow = iceServersNow;
    this.remoteEl = remoteEl;
    this.meterEl = meterEl;
    this.pc = null;
    this.stream = null;
    this.id = null;
  }

  /** Opens the path on client with the microphone; opts: {autoAnswer, autoAnswerDelayMs}. Rejects with the Error frame. */
  async open(client, opts = {}) {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const pc = newPeerConnection(this.iceServersNow);
    this.pc = pc;
    this.stream.getAudioTracks().forEach((t) => pc.addTrack(t, this.stream));
    this.live(false);
    pc.ontrack = (e) => { this.remote = e.streams[0] || new MediaStream([e.track]); this.play(); };
    const fields = { sdp: await completeOffer(pc) };
    if (opts.autoAnswer) fields.autoAnswer = true;
    if (Number.isInteger(opts.autoAnswerDelayMs)) fields.autoAnswerDelayMs = opts.autoAnswerDelayMs;
    const ack = await client.request('AudioPath', fields);
    await pc.setRemoteDescription({ type: 'answer', sdp: ack.sdp });
    this.id = ack.audioPath;
  }

  /** Plays the path's audio on the call's <audio> element (a call's end clears that element). */
  play() {
    if (!this.remote || !this.remoteEl) return;
    if (this.remoteEl.srcObject !== this.remote) this.remoteEl.srcObject = this.remote;
    this.remoteEl.play().catch(() => {});
  }

  /** Microphone on for a call, off (idle) between calls. */
  live(on) {
    if (this.stream) this.stream.getAudioTracks().forEach((t) => { t.enabled = on; });
    if (this.meterEl) this.meterEl.setAttribute('aria-label', on ? 'Microphone level' : 'Microphone idle');
    if (on) this.play();
  }

  get isOpen() {
    return !!(this.id && this.pc && this.pc.connectionState !== 'closed');
  }

  close() {
    if (this.pc) this.pc.close();
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    if (this.meterEl) this.meterEl.setAttribute('aria-label', 'Microphone level');
    this.pc = null;
    this.stream = null;
    this.id = null;
  }
}

/** Two short 880 Hz beeps: an auto-answered call arrived (the agent does not click, so it must hear it). */
export function autoAnswerTone() {
  const ac = audioContext();
  const g = ac.createGain();
  g.gain.value = 0;
  g.connect(ac.destination);
  const o = ac.createOscillator();
  o.frequency.value = 880;
  o.connect(g);
  const t = ac.currentTime;
  [0, 0.2].forEach((at) => { g.gain.setValueAtTime(0.1, t + at); g.gain.setValueAtTime(0, t + at + 0.12); });
  o.start(t);
  o.stop(t + 0.4);
  window.webphoneAutoAnswerTones = (window.webphoneAutoAnswerTones || 0) + 1; // tests read it
}
