// Transfer and received DTMF on the full phone (docs/embedding.md). Accessible names are part of the
// contract: a number box "Transfer to" and a button "Transfer" (blind transfer of the call in progress: the
// gateway sends REFER, the dial policy applies as for Call); the status words "Transferring", "Transferred"
// and "Transfer failed"; and a "Digits received" line showing the DTMF digits the far end sent in this call.
// Also what the far end's own transfers of this call look like (OnTransferStateChanged with direction "in").

const FAILED_SHOWN_MS = 3000;

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

export class TransferControl {
  /** phone: the <web-phone> element (its call, client, status(), detail(), showCallState()). */
  constructor(phone) {
    this.phone = phone;
    const box = el('div', { class: 'wp-extra wp-transfer' });
    this.number = el('input', {
      class: 'wp-transfer-number', type: 'tel', 'aria-label': 'Transfer to', autocomplete: 'off', inputmode: 'tel',
      maxlength: '32', placeholder: 'Transfer to',
    });
    this.button = el('button', { type: 'button' }, 'Transfer');
    box.append(this.number, this.button);
    this.digits = el('div', { class: 'wp-detail wp-digits', 'aria-label': 'Digits received' }, '');
    const settings = phone.v.root.querySelector('details');
    phone.v.root.insertBefore(box, settings);
    phone.v.root.insertBefore(this.digits, settings);
    this.button.addEventListener('click', () => this.transfer());
    this.number.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); this.transfer(); }
    });
  }

  async transfer() {
    const p = this.phone;
    const call = p.call;
    const number = this.number.value.trim();
    if (!call || !call.id) { p.detail('There is no call to transfer'); return; }
    if (!number) { p.detail('Enter the number to transfer to'); return; }
    try {
      await p.client.request('Transfer', { callId: call.id, number });
      if (p.call === call && !call.transferred) p.status('Transferring', 'to ' + number);
    } catch (e) {
      if (p.call === call) this.failed(call, e && e.message ? e.message : String(e));
    }
  }

  /** OnTransferStateChanged: ours (direction out) or the far end's transfer of this call (direction in). */
  onState(f) {
    const p = this.phone;
    const call = p.call;
    if (!call || call.id !== f.callId) return;
    const text = (f.code || '') + ' ' + (f.reason || '');
    if (f.direction === 'in') {
      // The far end moved this call to someone else; it goes on here with the same call id.
      if (f.code < 200) {
        p.status('Transferring', f.reason || '');
      } else {
        p.showCallState(call.state);
        p.detail(f.reason || text);
      }
      return;
    }
    if (f.code >= 200 && f.code < 300) {
      call.transferred = true; // the call ends next: "Transferred" stays as its last word
      p.status('Transferred', text.trim());
    } else if (f.code >= 300) {
      this.failed(call, text.trim());
    } else {
      p.status('Transferring', text.trim());
    }
  }

  failed(call, why) {
    const p = this.phone;
    p.status('Transfer failed', why);
    clearTimeout(this.failedTimer);
    this.failedTimer = setTimeout(() => { if (p.call === call) p.showCallState(call.state); }, FAILED_SHOWN_MS);
  }

  /** OnDtmfReceived: the digit joins the call's "Digits received" line. */
  onDtmf(f) {
    const call = this.phone.call;
    if (!call || call.id !== f.callId) return;
    call.digitsReceived = (call.digitsReceived || '') + (f.digit || '');
    this.digits.textContent = 'Received: ' + call.digitsReceived;
  }

  /** With the other buttons: usable only in an answered call; the digits line belongs to the current call. */
  update() {
    const c = this.phone.call;
    this.button.disabled = !c || !c.id || !['InCall', 'LocalHeld', 'RemoteHeld'].includes(c.state) || !!c.transferred;
    if (!c) { this.digits.textContent = ''; }
  }
}
