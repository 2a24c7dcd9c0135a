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
