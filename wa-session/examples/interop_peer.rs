//! The Rust side of the live interop checks (`interop/checks/*.mjs`): a JSON-lines peer.
//!
//! Each stdin line is a request `{"op": ..., ...}` with bytes in hex; each stdout line is the answer
//! (`{"error": "..."}` on failure). The process holds one device with an in-memory store.

use std::io::{BufRead, Write};

use anyhow::{Context, Result, anyhow};
use serde_json::{Value, json};
use wa_session::{
    KeyPair, PrivateKey, PublicKey,
    media::{self, MediaType},
    signal::{
        PreKeyBundle, SignedPreKeyRecord, cipher, generate_pre_keys, generate_registration_id,
    },
    store::{MemoryStore, PreKeyStore, ProtocolAddress, SenderKeyName, SignedPreKeyStore},
};

struct Peer {
    store: MemoryStore,
    rng: rand::rngs::StdRng,
    bundle: Value,
}

fn bytes(request: &Value, field: &str) -> Result<Vec<u8>> {
    let text = request[field].as_str().with_context(|| format!("missing {field}"))?;
    hex::decode(text).with_context(|| format!("{field} is not hex"))
}

fn array32(request: &Value, field: &str) -> Result<[u8; 32]> {
    bytes(request, field)?.try_into().map_err(|_| anyhow!("{field} must be 32 bytes"))
}

fn number(request: &Value, field: &str) -> Result<u32> {
    let n = request[field].as_u64().with_context(|| format!("missing {field}"))?;
    Ok(u32::try_from(n)?)
}

fn address(request: &Value) -> Result<ProtocolAddress> {
    Ok(ProtocolAddress::new(
        request["name"].as_str().context("missing name")?,
        number(request, "device")?,
    ))
}

fn sender_key_name(request: &Value) -> Result<SenderKeyName> {
    Ok(SenderKeyName::new(request["group"].as_str().context("missing group")?, address(request)?))
}

fn media_type(request: &Value) -> Result<MediaType> {
    let name = request["type"].as_str().context("missing type")?;
    MediaType::from_name(name).with_context(|| format!("unknown media type {name}"))
}

impl Peer {
    async fn new() -> Result<Self> {
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_rng(&mut rand::rng());
        let identity = KeyPair::generate(&mut rng);
        let registration_id = generate_registration_id(&mut rng);
        let signed = SignedPreKeyRecord::generate(&identity, 7, 1_700_000_000, &mut rng);
        let store = MemoryStore::new(identity.clone(), registration_id);
        store.save_signed_pre_key(&signed).await?;
        let pre_keys = generate_pre_keys(100, 50, &mut rng);
        for key in &pre_keys {
            store.save_pre_key(key).await?;
        }
        let bundle = json!({
            "registration_id": registration_id,
            "identity": hex::encode(identity.public.serialize()),
            "signed_pre_key": {"id": signed.id, "public": hex::encode(signed.key_pair.public.serialize()), "signature": hex::encode(signed.signature)},
            "pre_keys": pre_keys.iter().map(|key| json!({"id": key.id, "public": hex::encode(key.key_pair.public.serialize())})).collect::<Vec<_>>(),
        });
        Ok(Self { store, rng, bundle })
    }

    async fn handle(&mut self, request: &Value) -> Result<Value> {
        let rng = &mut self.rng;
        Ok(match request["op"].as_str().context("missing op")? {
            "bundle" => self.bundle.clone(),
            "public" => {
                let key = PrivateKey::from_bytes(array32(request, "private")?);
                json!({"public": hex::encode(key.public_key().as_bytes())})
            }
            "agree" => {
                let key = PrivateKey::from_bytes(array32(request, "private")?);
                let public = PublicKey::from_slice(&bytes(request, "public")?)?;
                json!({"shared": hex::encode(*key.agree(&public))})
            }
            "sign" => {
                let key = PrivateKey::from_bytes(array32(request, "private")?);
                json!({"signature": hex::encode(key.sign(&bytes(request, "message")?, rng))})
            }
            "verify" => {
                let public = PublicKey::from_slice(&bytes(request, "public")?)?;
                let ok = public.verify(&bytes(request, "message")?, &bytes(request, "signature")?);
                json!({"valid": ok.is_ok()})
            }
            "media_encrypt" => {
                let (blob, info) = media::encrypt(
                    &array32(request, "key")?,
                    media_type(request)?,
                    &bytes(request, "plain")?,
                );
                json!({"blob": hex::encode(blob), "file_sha256": hex::encode(info.file_sha256), "file_enc_sha256": hex::encode(info.file_enc_sha256), "file_length": info.file_length})
            }
            "media_decrypt" => {
                let plain = media::decrypt(
                    &array32(request, "key")?,
                    media_type(request)?,
                    &bytes(request, "blob")?,
                    None,
                )?;
                json!({"plain": hex::encode(plain)})
            }
            "process_bundle" => {
                let one_time = match request["pre_key_id"].as_u64() {
                    Some(id) => Some((
                        u32::try_from(id)?,
                        PublicKey::from_slice(&bytes(request, "pre_key")?)?,
                    )),
                    None => None,
                };
                let bundle = PreKeyBundle {
                    registration_id: number(request, "registration_id")?,
                    device_id: number(request, "device")?,
                    pre_key: one_time,
                    signed_pre_key_id: number(request, "signed_pre_key_id")?,
                    signed_pre_key: PublicKey::from_slice(&bytes(request, "signed_pre_key")?)?,
                    signed_pre_key_signature: bytes(request, "signature")?,
                    identity_key: PublicKey::from_slice(&bytes(request, "identity")?)?,
                };
                cipher::process_pre_key_bundle(&self.store, &address(request)?, &bundle, rng)
                    .await?;
                json!({})
            }
            "encrypt" => {
                let message =
                    cipher::encrypt(&self.store, &address(request)?, &bytes(request, "plain")?)
                        .await?;
                json!({"type": message.enc_type(), "body": hex::encode(message.serialized())})
            }
            "decrypt" => {
                let body = bytes(request, "body")?;
                let addr = address(request)?;
                let plain = match request["type"].as_str() {
                    Some("pkmsg") => {
                        cipher::decrypt_pre_key_message(&self.store, &addr, &body, rng).await?
                    }
                    Some("msg") => cipher::decrypt_message(&self.store, &addr, &body, rng).await?,
                    other => return Err(anyhow!("unknown message type {other:?}")),
                };
                json!({"plain": hex::encode(plain)})
            }
            "skdm_create" => {
                let skdm = cipher::create_sender_key_distribution(
                    &self.store,
                    &sender_key_name(request)?,
                    rng,
                )
                .await?;
                json!({"skdm": hex::encode(skdm.serialized())})
            }
            "skdm_process" => {
                cipher::process_sender_key_distribution(
                    &self.store,
                    &sender_key_name(request)?,
                    &bytes(request, "skdm")?,
                )
                .await?;
                json!({})
            }
            "group_encrypt" => {
                let message = cipher::group_encrypt(
                    &self.store,
                    &sender_key_name(request)?,
                    &bytes(request, "plain")?,
                    rng,
                )
                .await?;
                json!({"body": hex::encode(message.serialized())})
            }
            "group_decrypt" => {
                let plain = cipher::group_decrypt(
                    &self.store,
                    &sender_key_name(request)?,
                    &bytes(request, "body")?,
                )
                .await?;
                json!({"plain": hex::encode(plain)})
            }
            other => return Err(anyhow!("unknown op {other}")),
        })
    }
}

fn main() -> Result<()> {
    futures::executor::block_on(async {
        let mut peer = Peer::new().await?;
        let stdin = std::io::stdin();
        let mut stdout = std::io::stdout().lock();
        for line in stdin.lock().lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let request: Value = serde_json::from_str(&line)?;
            let answer = match peer.handle(&request).await {
                Ok(answer) => answer,
                Err(error) => json!({"error": error.to_string()}),
            };
            writeln!(stdout, "{answer}")?;
            stdout.flush()?;
        }
        Ok(())
    })
}
