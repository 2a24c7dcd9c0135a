# Writes the uas-*.xml scenarios: SIPp playing the PBX and the called party (run with -m 2).
import textwrap
HEAD = '''<?xml version="1.0" encoding="ISO-8859-1" ?>
<!-- {doc}
     The gateway's line registers here first: that REGISTER is a SIPp call of its own, which ends with the
     line's un-REGISTER (same Call-ID). Run with -m 2 (registration + the call). -->
<scenario name="{name}">
  <recv request="REGISTER" optional="true" next="register" />
  <recv request="INVITE">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="invfrom" />
      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="invto" />
      <ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" check_it="true" assign_to="invcontact" />
      <ereg regexp="X-Webphone-Call-Id: [A-Za-z0-9._:-]+" search_in="msg" check_it="true" assign_to="gwcallid" />
    </action>
  </recv>
'''
TAIL = '''  <nop next="done"><action><log message="[$invfrom] [$invto] [$invcontact] [$gwcallid]" /></action></nop>
  <label id="register" />
  <send><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=reg[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires=300
Content-Length: 0

]]></send>
  <recv request="REGISTER" />
  <send><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=reg[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <label id="done" />
  <nop />
</scenario>
'''
def resp(code, reason, sdp=None, extra=''):
    body = ''
    ct = 'Content-Length: 0\n'
    if sdp:
        ct = 'Content-Type: application/sdp\nContent-Length: [len]\n'
        body = sdp
    return '''  <send><![CDATA[

SIP/2.0 %d %s
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
%s%s
%s
]]></send>
''' % (code, reason, extra, ct, body)

def sdp(direction='sendrecv'):
    return '''v=0
o=sipp 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=%s
''' % direction

def req(method, cseq, body=None):
    ct = 'Content-Length: 0\n'
    b = ''
    if body:
        ct = 'Content-Type: application/sdp\nContent-Length: [len]\n'
        b = body
    return '''  <send retrans="500"><![CDATA[

%s [$invcontact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$invto];tag=[pid]SIPpTag01[call_number]
To: [$invfrom]
[last_Call-ID:]
CSeq: %d %s
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
%s
%s
]]></send>
''' % (method, cseq, method, ct, b)

def ack(cseq):
    return '''  <send><![CDATA[

ACK [$invcontact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$invto];tag=[pid]SIPpTag01[call_number]
To: [$invfrom]
[last_Call-ID:]
CSeq: %d ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
''' % cseq

RECV_ACK = '  <recv request="ACK" />\n'
RECV_BYE_OK = '  <recv request="BYE" />\n' + '''  <send><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
'''

files = {}
files['uas-answer.xml'] = ('answers with RTP echo (run with -rtp_echo) and waits for the BYE.', 'answer',
    resp(100,'Trying') + resp(180,'Ringing') + '  <pause milliseconds="100" />\n' + resp(200,'OK',sdp()) + RECV_ACK + RECV_BYE_OK)
for code, reason in [(486,'Busy Here'),(404,'Not Found'),(480,'Temporarily Unavailable'),(603,'Decline')]:
    files['uas-%d.xml'%code] = ('refuses the call with %d %s.'%(code,reason), 'reject %d'%code,
        resp(100,'Trying') + resp(code, reason) + RECV_ACK)
files['uas-early-media.xml'] = ('183 with SDP (early media), then 200, then waits for the BYE.', 'early media',
    resp(100,'Trying') + resp(183,'Session Progress',sdp()) + '  <pause milliseconds="300" />\n'
    + resp(200,'OK',sdp()) + RECV_ACK + RECV_BYE_OK)
files['uas-cancelled.xml'] = ('rings (180 only, so Ringing means the 180 arrived) until the caller CANCELs; 200 to '
    'the CANCEL, 487 to the INVITE.', 'cancelled',
    resp(180,'Ringing') + '  <recv request="CANCEL" />\n' + '''  <send><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <send><![CDATA[

SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: 1 INVITE
Content-Length: 0

]]></send>
''' + RECV_ACK)
files['uas-remote-bye.xml'] = ('answers, then hangs up itself (BYE) after a moment.', 'remote bye',
    resp(100,'Trying') + resp(200,'OK',sdp()) + RECV_ACK + '  <pause milliseconds="300" />\n'
    + req('BYE', 1) + '  <recv response="200" />\n')
files['uas-hold.xml'] = ('answers; holds the caller (re-INVITE sendonly) and resumes; then accepts the caller\'s '
    'own hold and resume re-INVITEs; finally hangs up.', 'hold',
    resp(100,'Trying') + resp(200,'OK',sdp()) + RECV_ACK + '  <pause milliseconds="200" />\n'
    + req('INVITE', 1, sdp('sendonly')) + '  <recv response="100" optional="true" />\n  <recv response="200" />\n' + ack(1)
    + '  <pause milliseconds="200" />\n'
    + req('INVITE', 2, sdp('sendrecv')) + '  <recv response="100" optional="true" />\n  <recv response="200" />\n' + ack(2)
    + '  <recv request="INVITE" />\n' + resp(200, 'OK', sdp('recvonly')).replace(';tag=[pid]SIPpTag01[call_number]', '') + RECV_ACK
    + '  <recv request="INVITE" />\n' + resp(200, 'OK', sdp('sendrecv')).replace(';tag=[pid]SIPpTag01[call_number]', '') + RECV_ACK
    + '  <pause milliseconds="200" />\n' + req('BYE', 3) + '  <recv response="200" />\n')
def notify(cseq, state, frag):
    return ('''  <send retrans="500"><![CDATA[

NOTIFY [$invcontact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$invto];tag=[pid]SIPpTag01[call_number]
To: [$invfrom]
[last_Call-ID:]
CSeq: %d NOTIFY
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Event: refer
Subscription-State: %s
Content-Type: message/sipfrag;version=2.0
Content-Length: [len]

%s
]]></send>
  <recv response="200" />
''' % (cseq, state, frag))

files['uas-info-refer.xml'] = ('answers; takes a DTMF INFO (Signal=1), sends one (Signal=5); accepts a REFER to '
    '1002 and reports its progress by NOTIFY (100, then 200); then takes the BYE.', 'info and refer',
    resp(100,'Trying') + resp(200,'OK',sdp()) + RECV_ACK
    + '''  <recv request="INFO">
    <action><ereg regexp="Signal=1" search_in="body" check_it="true" assign_to="sig" /></action>
  </recv>
''' + resp(200, 'OK').replace(';tag=[pid]SIPpTag01[call_number]', '')
    + req('INFO', 1).replace('Content-Length: 0\n', 'Content-Type: application/dtmf-relay\nContent-Length: [len]\n\nSignal=5\nDuration=160\n')
    + '  <recv response="200" />\n'
    + '''  <recv request="REFER">
    <action><ereg regexp="Refer-To: .*1002@" search_in="msg" check_it="true" assign_to="referto" /></action>
  </recv>
''' + resp(202, 'Accepted').replace(';tag=[pid]SIPpTag01[call_number]', '')
    + notify(2, 'active;expires=60', 'SIP/2.0 100 Trying') + notify(3, 'terminated;reason=noresource', 'SIP/2.0 200 OK')
    + RECV_BYE_OK + '  <nop><action><log message="[$sig] [$referto]" /></action></nop>\n')

files['uas-slow-ring.xml'] = ('rings only after 600 ms, so a hangup comes before any provisional response; then the '
    'CANCEL as in uas-cancelled.', 'slow ring',
    '  <pause milliseconds="600" />\n' + files['uas-cancelled.xml'][2])

for name,(doc,title,body) in files.items():
    open(name,'w').write(HEAD.format(doc=doc,name=title) + body + TAIL)
print(list(files))
