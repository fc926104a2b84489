//! Round trips and malformed input through the public API.

use proptest::prelude::*;
use wa_proto::{
    AttrValue, Content, DecodeLimits, Error, Jid, Node, Server, decode, decode_with, encode,
};

fn stanza() -> Node {
    Node::builder("message")
        .attr("id", "3EB0C431D5F1A2B3C4D5")
        .attr("to", Jid::with_device("5511987654321", Server::User, 3))
        .attr("type", "text")
        .attr("t", "1700000000")
        .children([
            Node::builder("enc")
                .attr("v", "2")
                .attr("type", "pkmsg")
                .bytes(vec![0x33; 300])
                .build(),
            Node::builder("participants")
                .children((0..3).map(|i| {
                    Node::builder("to")
                        .attr("jid", Jid::with_device("123456", Server::Lid, i))
                        .build()
                }))
                .build(),
            Node::builder("device-identity").bytes(vec![7; 70]).build(),
        ])
        .build()
}

#[test]
fn a_realistic_stanza_round_trips() {
    let node = stanza();
    let frame = encode(&node).unwrap();
    assert_eq!(frame[0], 0, "uncompressed flag");
    assert_eq!(decode(&frame).unwrap(), node);
}

#[test]
fn known_bytes_from_baileys() {
    // From research/interop-peers.md: Baileys encodes an iq with ping and enc children into 36
    // bytes starting 00 f8 0a 19 08 fc 05 61; the first bytes pin our list and token choice.
    let iq = Node::builder("iq")
        .attr("id", "a1b2c")
        .attr("xmlns", "w:p")
        .attr("type", "get")
        .attr("to", Jid::server_jid())
        .children([Node::new("ping"), Node::builder("enc").bytes(vec![1, 2, 3]).build()])
        .build();
    let frame = encode(&iq).unwrap();
    assert_eq!(&frame[..8], &[0x00, 0xf8, 0x0a, 0x19, 0x08, 0xfc, 0x05, 0x61]);
}

#[test]
fn compressed_frames_inflate() {
    use std::io::Write as _;
    let node = stanza();
    let body = &encode(&node).unwrap()[1..];
    let mut zlib = flate2::write::ZlibEncoder::new(vec![0x02], flate2::Compression::default());
    zlib.write_all(body).unwrap();
    let frame = zlib.finish().unwrap();
    assert_eq!(decode(&frame).unwrap(), node);
    let tight = DecodeLimits::default().with_max_allocation(body.len() - 1);
    assert_eq!(decode_with(&frame, tight), Err(Error::AllocationLimit { limit: body.len() - 1 }));
    assert!(matches!(decode(&[0x02, 1, 2, 3]), Err(Error::Inflate(_))));
}

#[test]
fn every_prefix_of_a_frame_is_rejected() {
    let frame = encode(&stanza()).unwrap();
    for len in 0..frame.len() {
        assert!(decode(&frame[..len]).is_err(), "prefix of {len} bytes decoded");
    }
    let mut longer = frame;
    longer.push(0);
    assert_eq!(decode(&longer), Err(Error::TrailingBytes { count: 1 }));
}

#[test]
fn malformed_inputs_have_their_own_errors() {
    assert_eq!(decode(&[]), Err(Error::EmptyFrame));
    assert_eq!(decode(&[0, 0]), Err(Error::InvalidNodeHeader { tag: 0 }));
    assert_eq!(decode(&[0, 0x05]), Err(Error::InvalidNodeHeader { tag: 5 }));
    assert_eq!(decode(&[0, 0xf8, 1, 0]), Err(Error::EmptyTag));
    assert_eq!(decode(&[0, 0xf8, 1, 240]), Err(Error::InvalidStringTag { tag: 240 }));
    assert_eq!(decode(&[0, 0xf8, 2, 8, 240]), Err(Error::InvalidContentTag { tag: 240 }));
    assert_eq!(decode(&[0, 0xf8, 1, 0xfc, 2, 0xff, 0xfe]), Err(Error::InvalidUtf8 { what: "tag" }));
    assert_eq!(decode(&[0, 0xf8, 1, 0xff, 1, 0xcc]), Err(Error::InvalidPackedValue { value: 12 }));
    assert_eq!(
        decode(&[0, 0xf8, 2, 8, 0xfe, 0xff, 0xff, 0xff, 0xff]),
        Err(Error::UnexpectedEnd { needed: u32::MAX as usize, remaining: 0 })
    );
    // A JID pair whose server is empty.
    assert!(matches!(decode(&[0, 0xf8, 3, 8, 8, 0xfa, 0, 0]), Err(Error::InvalidJid { .. })));
    // A packed string may hold up to 254 characters, but encoders pack at most 127: as content it
    // is bytes, so that decode -> encode -> decode is stable.
    let mut long_hex = vec![0, 0xf8, 2, 8, 0xfb, 0x7f];
    long_hex.extend([0xab; 127]);
    assert_eq!(decode(&long_hex).unwrap().content, Content::Bytes("AB".repeat(127).into_bytes()));
    // JID pairs nested in JID pairs: refused at once, not recursed into.
    let mut nested = vec![0, 0xf8, 2, 8];
    nested.extend(std::iter::repeat_n(0xfa, 1_000_000));
    assert!(matches!(decode(&nested), Err(Error::InvalidJid { .. })));
    // A list that announces more children than bytes remain.
    assert!(matches!(decode(&[0, 0xf8, 2, 8, 0xf9, 0xff, 0xff]), Err(Error::UnexpectedEnd { .. })));
}

#[test]
fn depth_is_capped() {
    let mut node = Node::new("leaf");
    for _ in 0..70 {
        node = Node::builder("n").children([node]).build();
    }
    let frame = encode(&node).unwrap();
    assert_eq!(decode(&frame), Err(Error::DepthLimit { limit: 64 }));
    assert!(decode_with(&frame, DecodeLimits::default().with_max_depth(80)).is_ok());
}

#[test]
fn encoder_refuses_what_the_wire_cannot_hold() {
    let jid_with_device_on_group = Jid::with_device("1203", Server::Group, 2);
    let node = Node::builder("x").attr("jid", jid_with_device_on_group).build();
    assert!(matches!(encode(&node), Err(Error::InvalidJid { .. })));
    assert_eq!(encode(&Node::new("")), Err(Error::EmptyTag));
    let wide = Node::builder("x").children((0..70_000).map(|_| Node::new("y"))).build();
    assert!(matches!(encode(&wide), Err(Error::TooLarge { .. })));
}

#[test]
fn every_jid_form_round_trips_through_the_wire() {
    for text in [
        "5511987654321@s.whatsapp.net",
        "5511987654321:12@s.whatsapp.net",
        "5511987654321.7:1@s.whatsapp.net",
        "123456789012345@lid",
        "123456789012345:4@lid",
        "120363025246125486@g.us",
        "status@broadcast",
        "120363144038483540@newsletter",
        "5511987654321@c.us",
        "5511987654321@hosted",
        "5511987654321:99@hosted",
        "123456789@hosted.lid",
        "100012345678:2@msgr",
        "12-345678:3@interop",
        "13135550002@bot",
        "s.whatsapp.net",
        "g.us",
    ] {
        let jid: Jid = text.parse().unwrap();
        let node = Node::builder("x").attr("jid", jid.clone()).build();
        let decoded = decode(&encode(&node).unwrap()).unwrap();
        assert_eq!(decoded.attr("jid"), Some(&AttrValue::Jid(jid)), "{text}");
        assert_eq!(decoded.attr_jid("jid").unwrap().to_string(), text);
    }
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9.-]{1,130}",
        "[0-9A-F]{1,130}",
        "\\PC{0,40}",
        prop::sample::select(vec!["iq", "message", "s.whatsapp.net", "read-self", "type", ""])
            .prop_map(str::to_owned),
        ".{250,300}",
    ]
}

fn arb_jid() -> impl Strategy<Value = Jid> {
    prop_oneof![
        ("[0-9]{1,15}", 0u16..256, prop::sample::select(vec![Server::User, Server::Lid]))
            .prop_map(|(user, device, server)| Jid::with_device(user, server, device)),
        ("[0-9-]{1,20}", prop::sample::select(vec![Server::Group, Server::Broadcast, Server::Bot]))
            .prop_map(|(user, server)| Jid::new(user, server)),
        ("[0-9]{1,15}", any::<u16>()).prop_map(|(user, d)| Jid::with_device(
            user,
            Server::Messenger,
            d
        )),
        ("[0-9]{1,15}", any::<u16>(), any::<u16>()).prop_map(|(user, device, integrator)| Jid {
            integrator,
            ..Jid::with_device(user, Server::Interop, device)
        }),
    ]
}

fn arb_node() -> impl Strategy<Value = Node> {
    let attrs = prop::collection::vec(
        (
            "[a-z_]{1,10}",
            prop_oneof![arb_text().prop_map(AttrValue::from), arb_jid().prop_map(AttrValue::Jid)],
        ),
        0..5,
    );
    let leaf = ("[a-z]{1,8}", attrs.clone(), prop::collection::vec(any::<u8>(), 0..300)).prop_map(
        |(tag, attrs, bytes)| Node {
            tag: tag.into(),
            attrs: dedup(attrs),
            content: if bytes.is_empty() { Content::None } else { Content::Bytes(bytes) },
        },
    );
    leaf.prop_recursive(4, 64, 8, move |inner| {
        ("[a-z]{1,8}", attrs.clone(), prop::collection::vec(inner, 0..8)).prop_map(
            |(tag, attrs, children)| Node {
                tag: tag.into(),
                attrs: dedup(attrs),
                content: Content::Nodes(children),
            },
        )
    })
}

fn dedup(attrs: Vec<(String, AttrValue)>) -> Vec<(wa_proto::Text, AttrValue)> {
    let mut out: Vec<(wa_proto::Text, AttrValue)> = Vec::new();
    for (key, value) in attrs {
        if !out.iter().any(|(k, _)| *k == key) {
            out.push((key.into(), value));
        }
    }
    out
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(node in arb_node()) {
        let frame = encode(&node).unwrap();
        prop_assert_eq!(decode(&frame).unwrap(), node);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
    }
}
