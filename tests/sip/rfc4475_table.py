"""Expected outcome of every RFC 4475 torture message, for the parser and the layers above.

``parse_status`` is None when ``parse_message`` must accept the message, else the status of
the SipParseError it raises. ``app_status`` is what the layer above (transaction user,
registrar, UAS) answers once the message parsed, None for ordinary processing (whose status
depends on routing and authorisation). ``drop`` marks a message that gets no answer at all: a
response to discard, or a request lacking the fields a response needs. The server's tests can
reuse the table against a running endpoint.

Choices where RFC 4475 allows either liberal or strict handling, and why:
    lwsstart, trws  strict 400: extra SP in the request line ("acceptable to reject").
    escruri         strict 400: headers are not allowed in a Request-URI (RFC 3261 §19.1.1).
    badaspec, baddn strict 400: To/From are checked at parse time and the grammar is clear.
    mismatch02      400, not the preferred 501: a CSeq/method mismatch is rejected while
                    parsing, before anyone looks at whether the method is known.
    baddate         accepted: nothing here reads Date, as the RFC suggests for such elements.
    regbadct        parses (Contact is read lazily); the registrar's NameAddr.parse of the
                    Contact rejects the unbracketed URI with "?" (400).
    test.dat        not from the RFC (php-sip keeps it alongside): its request line lacks
                    SIP-Version and one header line has no colon, so 400, and it has neither Via
                    nor CSeq, so no response can be built.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RFC4475_EXPECTED", "TortureCase"]


@dataclass(frozen=True)
class TortureCase:
    """One torture message: where the RFC lists it and what each layer must do with it."""

    section: str
    title: str
    parse_status: int | None = None
    app_status: int | None = None
    drop: bool = False
    method: str | None = None
    uri: str | None = None
    status: int | None = None
    call_id: str | None = None
    body_len: int | None = None
    via_count: int | None = None
    fields: tuple[tuple[str, str], ...] = ()  # (name, first value) after unfolding
    note: str = ""


_SDP = "application/sdp"

RFC4475_EXPECTED: dict[str, TortureCase] = {
    # 3.1.1 valid messages: the parser must accept them
    "wsinv": TortureCase(
        "3.1.1.1",
        "A short tortuous INVITE",
        method="INVITE",
        uri="sip:vivekg@chair-dnrc.example.com;unknownparam",
        call_id="wsinv.ndaksdj@192.0.2.1",
        body_len=150,
        via_count=3,
        fields=(
            ("To", "sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n"),
            ("CSeq", "0009 INVITE"),
            ("Subject", ""),
            ("NewFangledHeader", "newfangled value continued newfangled value"),
            ("UnknownHeaderWithUnusualValue", ";;,,;;,;"),
            ("Max-Forwards", "0068"),
        ),
    ),
    "intmeth": TortureCase(
        "3.1.1.2",
        "Wide range of valid characters",
        app_status=501,
        method="!interesting-Method0123456789_*+`.%indeed'~",
        uri=(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
            "(doesn't-it)@example.com"
        ),
        call_id="intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{",
        body_len=0,
        fields=(("CSeq", "139122385 !interesting-Method0123456789_*+`.%indeed'~"),),
        note="the method is unknown to our UAS: 501 (RFC 3261 §8.2.1)",
    ),
    "esc01": TortureCase(
        "3.1.1.3",
        "Valid use of the % escaping mechanism",
        method="INVITE",
        uri="sip:sips%3Auser%40example.com@example.net",
        call_id="esc01.239409asdfakjkn23onasd0-3234",
        body_len=150,
        fields=(("To", "sip:%75se%72@example.com"), ("Content-Type", _SDP)),
    ),
    "escnull": TortureCase(
        "3.1.1.4",
        "Escaped nulls in URIs",
        method="REGISTER",
        uri="sip:example.com",
        call_id="escnull.39203ndfvkjdasfkq3w4otrq0adsfdfnavd",
        body_len=0,
        fields=(("Contact", "<sip:%00@host5.example.com>"),),
    ),
    "esc02": TortureCase(
        "3.1.1.5",
        "Use of % when it is not an escape",
        app_status=501,
        method="RE%47IST%45R",
        uri="sip:registrar.example.com",
        call_id="esc02.asdfnqwo34rq23i34jrjasdcnl23nrlknsdf",
        body_len=0,
        fields=(
            ("C%6Fntact", "<sip:alias2@host2.example.com>"),
            ("To", '"%Z%45" <sip:resource@example.com>'),
        ),
        note="the method is not REGISTER: an endpoint answers 501",
    ),
    "lwsdisp": TortureCase(
        "3.1.1.6",
        "No LWS between display name and <",
        method="OPTIONS",
        call_id="lwsdisp.1234abcd@funky.example.com",
        fields=(("From", "caller<sip:caller@example.com>;tag=323"),),
    ),
    "longreq": TortureCase(
        "3.1.1.7",
        "Long values in header fields",
        method="INVITE",
        uri="sip:user@example.com",
        call_id="longreq.one" + "really" * 20 + "longcallid",
        body_len=150,
        via_count=34,
    ),
    "dblreq": TortureCase(
        "3.1.1.8",
        "Extra trailing octets in a UDP datagram",
        method="REGISTER",
        call_id="dblreq.0ha0isndaksdj99sdfafnl3lk233412",
        body_len=0,
        note="the INVITE after the REGISTER is noise (RFC 3261 §18.3)",
    ),
    "semiuri": TortureCase(
        "3.1.1.9",
        "Semicolon-separated parameters in URI user part",
        method="OPTIONS",
        uri="sip:user;par=u%40example.net@example.com",
        call_id="semiuri.0ha0isndaksdj",
        fields=(
            (
                "Accept",
                "application/sdp, application/pkcs7-mime, multipart/mixed, multipart/signed, "
                "message/sip, message/sipfrag",
            ),
        ),
    ),
    "transports": TortureCase(
        "3.1.1.10",
        "Varied and unknown transport types",
        method="OPTIONS",
        call_id="transports.kijh4akdnaqjkwendsasfdj",
        via_count=5,
    ),
    "mpart01": TortureCase(
        "3.1.1.11",
        "Multipart MIME message",
        method="MESSAGE",
        uri="sip:kumiko@example.org",
        call_id="3d9485ad0c49859b@Zmx1ZmZ5LW1hYy0xNi5sb2NhbA..",
        body_len=553,
        fields=(("Content-Type", "multipart/mixed;boundary=7a9cbec02ceef655"),),
    ),
    "unreason": TortureCase(
        "3.1.1.12",
        "Unusual reason phrase",
        status=200,
        call_id="unreason.1234ksdfak3j2erwedfsASdf",
        body_len=154,
    ),
    "noreason": TortureCase(
        "3.1.1.13",
        "Empty reason phrase",
        status=100,
        call_id="noreason.asndj203insdf99223ndf",
        body_len=0,
    ),
    # 3.1.2 invalid messages
    "badinv01": TortureCase("3.1.2.1", "Extraneous header field separators", parse_status=400),
    "clerr": TortureCase("3.1.2.2", "Content length larger than message", parse_status=400),
    "ncl": TortureCase("3.1.2.3", "Negative Content-Length", parse_status=400),
    "scalar02": TortureCase(
        "3.1.2.4", "Request scalar fields with overlarge values", parse_status=400
    ),
    "scalarlg": TortureCase(
        "3.1.2.5", "Response scalar fields with overlarge values", parse_status=400, drop=True
    ),
    "quotbal": TortureCase(
        "3.1.2.6", "Unterminated quoted string in display name", parse_status=400
    ),
    "ltgtruri": TortureCase("3.1.2.7", "<> enclosing Request-URI", parse_status=400),
    "lwsruri": TortureCase("3.1.2.8", "Malformed SIP Request-URI (embedded LWS)", parse_status=400),
    "lwsstart": TortureCase(
        "3.1.2.9", "Multiple SP separating Request-Line elements", parse_status=400
    ),
    "trws": TortureCase("3.1.2.10", "SP characters at end of Request-Line", parse_status=400),
    "escruri": TortureCase("3.1.2.11", "Escaped headers in SIP Request-URI", parse_status=400),
    "baddate": TortureCase(
        "3.1.2.12",
        "Invalid time zone in Date header field",
        method="INVITE",
        call_id="baddate.239423mnsadf3j23lj42--sedfnm234",
        body_len=150,
        fields=(("Date", "Fri, 01 Jan 2010 16:00:00 EST"),),
        note="Date is ignored, as the RFC allows",
    ),
    "regbadct": TortureCase(
        "3.1.2.13",
        "Failure to enclose name-addr URI in <>",
        app_status=400,
        method="REGISTER",
        call_id="regbadct.k345asrl3fdbv@10.0.0.1",
        fields=(("Contact", "sip:user@example.com?Route=%3Csip:sip.example.com%3E"),),
        note="rejected when the registrar parses Contact",
    ),
    "badaspec": TortureCase("3.1.2.14", "Spaces within addr-spec", parse_status=400),
    "baddn": TortureCase("3.1.2.15", "Non-token characters in display name", parse_status=400),
    "badvers": TortureCase("3.1.2.16", "Unknown protocol version", parse_status=505),
    "mismatch01": TortureCase("3.1.2.17", "Start line and CSeq method mismatch", parse_status=400),
    "mismatch02": TortureCase(
        "3.1.2.18",
        "Unknown method with CSeq method mismatch",
        parse_status=400,
        note="the RFC prefers 501 but allows 400",
    ),
    "bigcode": TortureCase("3.1.2.19", "Overlarge response code", parse_status=400, drop=True),
    # 3.2 transaction layer semantics
    "badbranch": TortureCase(
        "3.2.1",
        "Branch tag missing transaction identifier",
        method="OPTIONS",
        call_id="badbranch.sadonfo23i420jv0as0derf3j3n",
        fields=(("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK"),),
        note="the transaction layer falls back to RFC 2543 matching",
    ),
    # 3.3 application layer semantics
    "insuf": TortureCase(
        "3.3.1",
        "Missing required header fields",
        parse_status=400,
        drop=True,
        note="no Call-ID, From or To: no response can be built",
    ),
    "unkscm": TortureCase(
        "3.3.2",
        "Request-URI with unknown scheme",
        app_status=416,
        method="OPTIONS",
        uri="nobodyKnowsThisScheme:totallyopaquecontent",
        call_id="unkscm.nasdfasser0q239nwsdfasdkl34",
    ),
    "novelsc": TortureCase(
        "3.3.3",
        "Request-URI with known but atypical scheme",
        app_status=416,
        method="OPTIONS",
        uri="soap.beep://192.0.2.103:3002",
        call_id="novelsc.asdfasser0q239nwsdfasdkl34",
    ),
    "unksm2": TortureCase(
        "3.3.4",
        "Unknown URI schemes in header fields",
        app_status=400,
        method="REGISTER",
        call_id="unksm2.daksdj@hyphenated-host.example.com",
        fields=(("To", "isbn:2983792873"), ("Contact", "<name:John_Smith>")),
        note="a registrar needs a SIP or SIPS AOR in To",
    ),
    "bext01": TortureCase(
        "3.3.5",
        "Proxy-Require and Require",
        app_status=420,
        method="OPTIONS",
        call_id="bext01.0ha0isndaksdj",
        fields=(("Require", "nothingSupportsThis, nothingSupportsThisEither"),),
    ),
    "invut": TortureCase(
        "3.3.6",
        "Unknown content-type",
        app_status=415,
        method="INVITE",
        call_id="invut.0ha0isndaksdjadsfij34n23d",
        body_len=40,
        fields=(("Content-Type", "application/unknownformat"),),
    ),
    "regaut01": TortureCase(
        "3.3.7",
        "Unknown authorization scheme",
        app_status=401,
        method="REGISTER",
        call_id="regaut01.0ha0isndaksdj",
        fields=(("Authorization", "NoOneKnowsThisScheme opaque-data=here"),),
        note="a registrar that authenticates challenges with a scheme it knows",
    ),
    "multi01": TortureCase(
        "3.3.8", "Multiple values in single value required fields", parse_status=400
    ),
    "mcl01": TortureCase("3.3.9", "Multiple Content-Length values", parse_status=400),
    "bcast": TortureCase(
        "3.3.10",
        "200 OK response with broadcast Via header field value",
        drop=True,
        status=200,
        call_id="bcast.0384840201234ksdfak3j2erwedfsASdf",
        body_len=154,
        via_count=2,
        note="well formed; an endpoint discards it, a proxy must not forward it",
    ),
    "zeromf": TortureCase(
        "3.3.11",
        "Max-Forwards of zero",
        method="OPTIONS",
        call_id="zeromf.jfasdlfnm2o2l43r5u0asdfas",
        fields=(("Max-Forwards", "0"),),
        note="an endpoint processes it; only a proxy answers 483",
    ),
    "cparam01": TortureCase(
        "3.3.12",
        "REGISTER with a contact header parameter",
        method="REGISTER",
        call_id="cparam01.70710@saturn.example.com",
        fields=(("Contact", "sip:+19725552222@gw1.example.net;unknownparam"),),
    ),
    "cparam02": TortureCase(
        "3.3.13",
        "REGISTER with a URL parameter",
        method="REGISTER",
        call_id="cparam02.70710@saturn.example.com",
        fields=(("Contact", "<sip:+19725552222@gw1.example.net;unknownparam>"),),
    ),
    "regescrt": TortureCase(
        "3.3.14",
        "REGISTER with a URL escaped header",
        method="REGISTER",
        call_id="regescrt.k345asrl3fdbv@192.0.2.1",
        fields=(("Contact", "<sip:user@example.com?Route=%3Csip:sip.example.com%3E>"),),
    ),
    "sdp01": TortureCase(
        "3.3.15",
        "Unacceptable Accept offering",
        app_status=406,
        method="INVITE",
        call_id="sdp01.ndaksdj9342dasdd",
        body_len=150,
        fields=(("Accept", "text/nobodyKnowsThis"),),
    ),
    # 3.4 backward compatibility
    "inv2543": TortureCase(
        "3.4.1",
        "INVITE with RFC 2543 syntax",
        method="INVITE",
        uri="sip:UserB@example.com",
        call_id="inv2543.1717@ift.client.example.com",
        body_len=105,
        note="no Content-Length on a datagram: the rest is the body; no Max-Forwards",
    ),
    # not from RFC 4475: an extra sample php-sip keeps in the same folder
    "test": TortureCase("-", "php-sip sample", parse_status=400, drop=True),
}
