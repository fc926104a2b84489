//! Prekey bundles: the `encrypt` key-fetch query, its answer, and starting sessions from it.

use rand_core::CryptoRng;
use wa_proto::{Jid, Node};

use super::{bytes::parse_be, iq};
use crate::{
    ConnectionError, Error, MessageError, PublicKey, Result,
    signal::{PreKeyBundle, cipher},
    store::{ProtocolAddress, SignalStore},
};

/// The Signal address of a device JID, as the store keys its session.
pub fn protocol_address(jid: &Jid) -> ProtocolAddress {
    let address = jid.signal_address();
    ProtocolAddress::new(address.name, address.device_id)
}

/// `<iq xmlns="encrypt" type="get"><key><user jid/>...</key></iq>`: the bundles of `devices`.
pub fn fetch_bundles_iq(request_id: &str, devices: &[Jid]) -> Node {
    let users = devices.iter().map(|jid| Node::builder("user").attr("jid", jid.clone()).build());
    iq::request(request_id, "get", "encrypt", [Node::builder("key").children(users).build()])
}

/// Parses the answer to [`fetch_bundles_iq`]: `<list><user jid>...</user>...</list>`, one entry
/// per device in the answer's order. A device the server reports with an `<error>` (or whose keys
/// are unusable) gets its own error; only a malformed envelope fails the whole answer.
pub fn parse_bundles(answer: &Node) -> Result<Vec<(Jid, Result<PreKeyBundle>)>> {
    iq::check_result(answer)?;
    let list = answer
        .child("list")
        .ok_or_else(|| Error::stanza("iq", "key-fetch answer without <list>"))?;
    list.children_with_tag("user")
        .map(|user| {
            let jid =
                user.attr_jid("jid").map_err(|error| Error::stanza("user", error.to_string()))?;
            let bundle = parse_bundle(user, &jid);
            Ok((jid, bundle))
        })
        .collect()
}

fn content<'a>(parent: Option<&'a Node>, tag: &str) -> Option<&'a [u8]> {
    parent.and_then(|parent| parent.child(tag)).and_then(Node::content_bytes)
}

/// One `<user>` (or retry-receipt) bundle: `<registration>` (4 bytes), `<type>` (0x05),
/// `<identity>` (32), optional `<key><id>(3)<value>(32)`,
/// `<skey><id>(3)<value>(32)<signature>(64)`. The key elements may sit inside a `<keys>` child.
pub fn parse_bundle(node: &Node, jid: &Jid) -> Result<PreKeyBundle> {
    let bad =
        |reason: String| Error::Message(MessageError::BadBundle { jid: jid.to_string(), reason });
    if let Some(error) = node.child("error") {
        let code = error.attr_opt_str("code").ok().flatten().unwrap_or_default();
        let text = error.attr_opt_str("text").ok().flatten().unwrap_or_default();
        return Err(Error::Connection(ConnectionError::Iq {
            code: code.to_owned(),
            text: text.to_owned(),
        }));
    }
    let keys = node.child("keys").unwrap_or(node);
    let child = |tag: &'static str| keys.child(tag).or_else(|| node.child(tag));
    let registration_id =
        parse_be(child("registration").and_then(Node::content_bytes), 4, "registration")
            .map_err(|error| bad(error.to_string()))?;
    if let Some(key_type) = child("type").and_then(Node::content_bytes)
        && key_type != [crate::DJB_TYPE]
    {
        return Err(bad(format!("key type {key_type:02x?}, expected [05]")));
    }
    let key = |bytes: Option<&[u8]>, what: &'static str| -> Result<PublicKey> {
        match bytes {
            Some(bytes) if bytes.len() == 32 => PublicKey::from_slice(bytes),
            Some(bytes) => Err(bad(format!("{what} is {} bytes, expected 32", bytes.len()))),
            None => Err(bad(format!("{what} missing"))),
        }
    };
    let identity_key = key(child("identity").and_then(Node::content_bytes), "identity key")?;
    let pre_key = match child("key") {
        Some(one_time) => Some((
            parse_be(content(Some(one_time), "id"), 3, "prekey id")
                .map_err(|error| bad(error.to_string()))?,
            key(content(Some(one_time), "value"), "prekey")?,
        )),
        None => None,
    };
    let signed = child("skey").ok_or_else(|| bad("signed prekey missing".to_owned()))?;
    let signed_pre_key_id = parse_be(content(Some(signed), "id"), 3, "signed prekey id")
        .map_err(|error| bad(error.to_string()))?;
    let signed_pre_key = key(content(Some(signed), "value"), "signed prekey")?;
    let signature = content(Some(signed), "signature")
        .filter(|signature| signature.len() == 64)
        .ok_or_else(|| bad("signed prekey signature missing or not 64 bytes".to_owned()))?;
    Ok(PreKeyBundle {
        registration_id,
        device_id: u32::from(jid.device),
        pre_key,
        signed_pre_key_id,
        signed_pre_key,
        signed_pre_key_signature: signature.to_vec(),
        identity_key,
    })
}

/// Starts a session with each device that has a bundle (verifying its signature and the identity's
/// trust). Returns the devices for which that failed, with why; a store failure stops at once.
pub async fn establish_sessions<S: SignalStore + ?Sized>(
    store: &S,
    bundles: &[(Jid, Result<PreKeyBundle>)],
    rng: &mut (impl CryptoRng + Send),
) -> Result<Vec<(Jid, Error)>> {
    let mut failed = Vec::new();
    for (jid, bundle) in bundles {
        let outcome = match bundle {
            Ok(bundle) => {
                cipher::process_pre_key_bundle(store, &protocol_address(jid), bundle, rng).await
            }
            Err(error) => Err(error.clone()),
        };
        match outcome {
            Ok(()) => {}
            Err(Error::Store(reason)) => return Err(Error::Store(reason)),
            Err(error) => failed.push((jid.clone(), error)),
        }
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        message::{bytes::be, xml::xml},
        store::{
            MemoryStore, SessionStore as _,
            conformance::{TestRng, block_on, device, device_keys},
        },
    };

    fn jid(text: &str) -> Jid {
        text.parse().unwrap()
    }

    fn bytes(tag: &'static str, value: impl Into<Vec<u8>>) -> Node {
        Node::builder(tag).bytes(value).build()
    }

    /// A `<user>` as the server writes it, from a real bundle.
    pub(crate) fn user_node(jid: &Jid, bundle: &PreKeyBundle) -> Node {
        let mut children = vec![
            bytes("registration", be(bundle.registration_id, 4)),
            bytes("type", [5]),
            bytes("identity", bundle.identity_key.as_bytes().to_vec()),
        ];
        if let Some((id, key)) = bundle.pre_key {
            children.push(
                Node::builder("key")
                    .children([bytes("id", be(id, 3)), bytes("value", key.as_bytes().to_vec())])
                    .build(),
            );
        }
        children.push(
            Node::builder("skey")
                .children([
                    bytes("id", be(bundle.signed_pre_key_id, 3)),
                    bytes("value", bundle.signed_pre_key.as_bytes().to_vec()),
                    bytes("signature", bundle.signed_pre_key_signature.clone()),
                ])
                .build(),
        );
        Node::builder("user").attr("jid", jid.clone()).children(children).build()
    }

    fn answer(users: Vec<Node>) -> Node {
        Node::builder("iq")
            .attr("type", "result")
            .children([Node::builder("list").children(users).build()])
            .build()
    }

    #[test]
    fn query_shape() {
        let devices = [jid("5511:3@s.whatsapp.net"), jid("99:1@lid")];
        insta::assert_snapshot!(xml(&fetch_bundles_iq("r-2", &devices)));
    }

    #[test]
    fn parses_bundles_errors_and_short_keys() {
        let mut rng = TestRng(3);
        let bob = device_keys(2, &mut rng);
        let bob_jid = jid("5522:1@s.whatsapp.net");
        let gone = Node::builder("user")
            .attr("jid", jid("5522:9@s.whatsapp.net"))
            .children([Node::builder("error")
                .attr("code", "404")
                .attr("text", "item-not-found")
                .build()])
            .build();
        let mut short = user_node(&jid("5522:2@s.whatsapp.net"), &bob.bundle);
        if let wa_proto::Content::Nodes(children) = &mut short.content {
            children[2] = bytes("identity", vec![1; 31]);
        }
        let parsed =
            parse_bundles(&answer(vec![user_node(&bob_jid, &bob.bundle), gone, short])).unwrap();
        assert_eq!(parsed[0].0, bob_jid);
        assert_eq!(parsed[0].1.as_ref().unwrap(), &bob.bundle);
        assert!(matches!(
            parsed[1].1,
            Err(Error::Connection(ConnectionError::Iq { ref code, .. })) if code == "404"
        ));
        assert!(matches!(
            parsed[2].1,
            Err(Error::Message(MessageError::BadBundle { ref reason, .. }))
                if reason.contains("31 bytes")
        ));

        // Without a one-time prekey, and with the keys inside <keys>.
        let mut no_one_time = bob.bundle;
        no_one_time.pre_key = None;
        let flat = user_node(&bob_jid, &no_one_time);
        let nested = Node::builder("user")
            .attr("jid", bob_jid.clone())
            .children([
                flat.child("registration").unwrap().clone(),
                Node::builder("keys").children(flat.children()[1..].iter().cloned()).build(),
            ])
            .build();
        assert_eq!(parse_bundle(&nested, &bob_jid).unwrap(), no_one_time);

        let no_skey = Node::builder("user")
            .attr("jid", bob_jid.clone())
            .children(flat.children()[..3].iter().cloned())
            .build();
        assert!(matches!(
            parse_bundle(&no_skey, &bob_jid),
            Err(Error::Message(MessageError::BadBundle { .. }))
        ));
    }

    #[test]
    fn establishes_sessions_and_reports_failures() {
        block_on(async {
            let mut rng = TestRng(4);
            let alice = device(1);
            let store = MemoryStore::new(alice.identity, alice.registration_id);
            let bob = device_keys(2, &mut rng);
            let mut forged = bob.bundle.clone();
            forged.signed_pre_key_signature[0] ^= 1;
            let good = jid("5522:1@s.whatsapp.net");
            let bad = jid("5522:2@s.whatsapp.net");
            let failed = establish_sessions(
                &store,
                &[(good.clone(), Ok(bob.bundle.clone())), (bad.clone(), Ok(forged))],
                &mut rng,
            )
            .await
            .unwrap();
            assert_eq!(failed.len(), 1);
            assert_eq!(failed[0].0, bad);
            assert!(store.session(&protocol_address(&good)).await.unwrap().is_some());
            assert!(store.session(&protocol_address(&bad)).await.unwrap().is_none());
        });
    }
}
