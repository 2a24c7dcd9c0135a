# Writes the uac-*.xml scenarios: SIPp calling a gateway line (run with -s <user> <gateway ip:port>).
# Kept as a generator because the scenarios share most of their text.
INVITE = '''  <send retrans="500"><![CDATA[

INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Alice Caller" <sip:1001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:1001@[local_ip]:[local_port]>
Max-Forwards: 70
%s
]]></send>
'''
SDP = '''Content-Type: application/sdp
Content-Length: [len]

v=0
o=alice 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=sendrecv
'''
NOBODY = 'Content-Length: 0\n'

def in_dialog(method, cseq, body=NOBODY, retrans=True):
    return '''  <send%s><![CDATA[

%s [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Alice Caller" <sip:1001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: %d %s
Contact: <sip:1001@[local_ip]:[local_port]>
Max-Forwards: 70
%s
]]></send>
''' % (' retrans="500"' if retrans else '', method, cseq, method, body)

def final_ack(code):
    # the ACK of a non-2xx final response belongs to the INVITE transaction: same Via and To as the response
    return '''  <recv response="%d" />
  <send><![CDATA[

ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: "Alice Caller" <sip:1001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
''' % code

RING = '  <recv response="100" optional="true" />\n  <recv response="180" />\n'
files = {
  # 2 s: long enough for a browser's ICE and DTLS after its Accept on a busy 2-core machine (at 300 ms the
  # far end's BYE could close the media while a test's browser was still in its DTLS handshake).
  'uac-answered.xml': ('calls, is answered, hangs up after 2 s.',
      INVITE % SDP + RING + '  <recv response="200" rrs="true" />\n' + in_dialog('ACK', 1, retrans=False)
      + '  <pause milliseconds="2000" />\n' + in_dialog('BYE', 2) + '  <recv response="200" />\n'),
  'uac-offerless.xml': ('calls without SDP; answers the 200\'s offer in the ACK; hangs up.',
      INVITE % NOBODY + RING + '  <recv response="200" rrs="true" />\n' + in_dialog('ACK', 1, SDP, retrans=False)
      + '  <pause milliseconds="300" />\n' + in_dialog('BYE', 2) + '  <recv response="200" />\n'),
  'uac-cancel.xml': ('calls and CANCELs while it rings; expects 200 to the CANCEL and 487.',
      INVITE % SDP + RING + '  <pause milliseconds="300" />\n' + '''  <send retrans="500"><![CDATA[

CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
From: "Alice Caller" <sip:1001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 CANCEL
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" />
''' + final_ack(487)),
}
for code in (486, 480, 404, 603):
    files['uac-%d.xml' % code] = ('calls and expects %d.' % code,
        INVITE % SDP + '  <recv response="100" optional="true" />\n  <recv response="180" optional="true" />\n'
        + final_ack(code))
OPUS_SDP = SDP.replace('m=audio [media_port] RTP/AVP 0 8 101\n', 'm=audio [media_port] RTP/AVP 107 0 100 101\n'
    'a=rtpmap:107 opus/48000/2\na=fmtp:107 useinbandfec=1; maxplaybackrate=48000\na=rtpmap:100 telephone-event/48000\n'
    'a=fmtp:100 0-16\n').replace('a=rtpmap:8 PCMA/8000\n', '')
files['uac-opus-echo.xml'] = ('calls offering Opus at payload type 107 (the browser uses 111), PCMU and '
    'telephone-event at 48 and 8 kHz; echoes the RTP (run with -rtp_echo) until the gateway hangs up.',
    INVITE % OPUS_SDP + RING + '  <recv response="200" rrs="true" />\n' + in_dialog('ACK', 1, retrans=False)
    + """  <recv request="BYE" />
  <send><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
""")

# Transfers (docs/sip.md, "Transfer"): the PBX side's REFER and Replaces toward a gateway line.
def respond_to(method, check=None):
    action = ('\n    <action><ereg regexp="%s" search_in="body" check_it="true" assign_to="seen" /></action>\n  '
              % check) if check else ''
    return '''  <recv request="%s">%s</recv>
  <send><![CDATA[

SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
''' % (method, action)

ANSWERED = INVITE % SDP + RING + '  <recv response="200" rrs="true" />\n' + in_dialog('ACK', 1, retrans=False)

def refer(cseq, refer_to, code):
    return in_dialog('REFER', cseq, (refer_to + '\n' if refer_to else '') + NOBODY) + '  <recv response="%d" />\n' % code

files['transfer-refer-in.xml'] = ('calls, is answered, then REFERs: without Refer-To (400), to a tel: URI, '
    'with an embedded Call-Info header, to a number the dial policy blocks (403 each), then to 701 (202); '
    'expects NOTIFY 100 and 200 (sipfrag) and the BYE that ends the old dialog.',
    ANSWERED + refer(2, None, 400) + refer(3, 'Refer-To: <tel:+15551234>', 403)
    + refer(4, 'Refer-To: <sip:701@[remote_ip]?Call-Info=%3Chttp%3A%2F%2Fevil.example%2F%3E%3Banswer-after%3D0>', 403)
    + refer(5, 'Refer-To: <sip:0900123@[remote_ip]>', 403)
    + refer(6, 'Refer-To: <sip:701@[remote_ip]:[remote_port]>\nReferred-By: <sip:1001@[local_ip]:[local_port]>', 202)
    + respond_to('NOTIFY', 'SIP/2.0 100') + respond_to('NOTIFY', 'SIP/2.0 200') + respond_to('BYE'))
files['transfer-replaced.xml'] = ('calls, is answered, and waits for the BYE of a call that replaced it.',
    ANSWERED + respond_to('BYE'))
files['transfer-replaces.xml'] = ('calls with Replaces naming the dialog in -set replaces (answered at once), '
    'talks 1 s, hangs up.',
    '  <Global variables="replaces" />\n' + INVITE % ('Replaces: [$replaces]\n' + SDP)
    + '  <recv response="100" optional="true" />\n  <recv response="180" optional="true" />\n'
    + '  <recv response="200" rrs="true" />\n' + in_dialog('ACK', 1, retrans=False)
    + '  <pause milliseconds="1000" />\n' + in_dialog('BYE', 2) + '  <recv response="200" />\n')
files['transfer-replaces-unknown.xml'] = ('calls with Replaces naming a dialog the gateway does not have; expects 481.',
    INVITE % ('Replaces: nosuch-[call_id];to-tag=12345;from-tag=67890\n' + SDP)
    + '  <recv response="100" optional="true" />\n' + final_ack(481))
for name, (doc, body) in files.items():
    open(name, 'w').write('<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!-- Generated by generate-uac.py: '
        + doc + ' -->\n<scenario name="' + name[:-4] + '">\n' + body + '</scenario>\n')
print(sorted(files))
