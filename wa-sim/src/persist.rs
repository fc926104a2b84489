//! The optional state file (`wa-sim serve --state FILE`): accounts, devices, the prekeys the
//! server holds and the queued stanzas survive a restart, so linked devices stay linked.
//!
//! Versioned JSON ([`STATE_VERSION`]), written atomically: a temporary file in the same folder,
//! synced, then renamed over the old one. The test root and the Noise static key are kept too,
//! so clients go on trusting the restarted simulator; the intermediate certificate is made
//! anew. The simulated phones keep their identity (the account's) but not their Signal
//! sessions: they start with fresh prekeys, and a message on an old session is answered with a
//! retry receipt, after which the sender starts a new one.

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::{Path, PathBuf},
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use rand::{SeedableRng as _, rngs::StdRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use wa_session::{KeyPair, PrivateKey, PublicKey};

use crate::{
    config::SimConfig,
    error::{Error, Result},
    phone_store::new_phone,
    sim::Sim,
    state::{Account, Device, Queued, SignedPreKey},
};

/// The state file format's version; a file of another version is refused, not guessed at.
pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct StateFile {
    pub(crate) version: u32,
    /// The test root's private key, hex.
    pub(crate) root: String,
    /// The Noise static private key, hex.
    pub(crate) static_key: String,
    pub(crate) accounts: Vec<AccountFile>,
    pub(crate) queues: Vec<QueueFile>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct AccountFile {
    phone: String,
    lid: String,
    /// The account (primary phone) identity private key, hex.
    identity: String,
    adv_raw_id: u32,
    next_key_index: u32,
    next_device: u16,
    devices: Vec<DeviceFile>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct DeviceFile {
    device: u16,
    noise_key: Option<String>,
    identity_key: String,
    registration_id: u32,
    key_index: u32,
    platform: Option<String>,
    removed: bool,
    /// One-time prekeys: id -> public key, hex.
    prekeys: BTreeMap<u32, String>,
    signed_prekey: Option<SignedPreKeyFile>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct SignedPreKeyFile {
    id: u32,
    public: String,
    signature: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct QueueFile {
    phone: String,
    device: u16,
    entries: Vec<QueuedFile>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct QueuedFile {
    class: String,
    id: String,
    /// The stanza in WhatsApp's binary node encoding, base64.
    node: String,
}

fn bad(what: impl std::fmt::Display) -> Error {
    Error::StateFile(what.to_string())
}

fn key_pair(hex_text: &str) -> Result<KeyPair> {
    let bytes = hex::decode(hex_text).map_err(bad)?;
    let private = PrivateKey::from_slice(&bytes)?;
    Ok(KeyPair::from_private(private))
}

fn public(hex_text: &str) -> Result<PublicKey> {
    Ok(PublicKey::from_slice(&hex::decode(hex_text).map_err(bad)?)?)
}

fn class(text: &str) -> Result<&'static str> {
    match text {
        "message" => Ok("message"),
        "receipt" => Ok("receipt"),
        "notification" => Ok("notification"),
        "call" => Ok("call"),
        other => Err(bad(format!("unknown queued class {other:?}"))),
    }
}

impl Sim {
    /// What the state file holds now.
    pub(crate) fn snapshot(&self) -> Result<StateFile> {
        let state = self.state();
        let accounts = state
            .accounts
            .values()
            .map(|a| AccountFile {
                phone: a.phone.clone(),
                lid: a.lid.clone(),
                identity: hex::encode(a.identity.private.secret_bytes()),
                adv_raw_id: a.adv_raw_id,
                next_key_index: a.next_key_index,
                next_device: a.next_device,
                devices: a
                    .devices
                    .iter()
                    .map(|(id, d)| DeviceFile {
                        device: *id,
                        noise_key: d.noise_key.map(|k| hex::encode(k.as_bytes())),
                        identity_key: hex::encode(d.identity_key.as_bytes()),
                        registration_id: d.registration_id,
                        key_index: d.key_index,
                        platform: d.platform.clone(),
                        removed: d.removed,
                        prekeys: d.prekeys.iter().map(|(k, v)| (*k, hex::encode(v))).collect(),
                        signed_prekey: d.signed_prekey.as_ref().map(|s| SignedPreKeyFile {
                            id: s.id,
                            public: hex::encode(&s.public),
                            signature: hex::encode(&s.signature),
                        }),
                    })
                    .collect(),
            })
            .collect();
        let mut queues = Vec::new();
        for ((phone, device), entries) in &state.queues {
            if entries.is_empty() {
                continue;
            }
            let entries = entries
                .iter()
                .map(|q| {
                    Ok(QueuedFile {
                        class: q.class.to_owned(),
                        id: q.id.clone(),
                        node: STANDARD.encode(wa_proto::encode(&q.node)?),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            queues.push(QueueFile { phone: phone.clone(), device: *device, entries });
        }
        Ok(StateFile {
            version: STATE_VERSION,
            root: hex::encode(self.inner.root.private.secret_bytes()),
            static_key: hex::encode(self.inner.static_key.private.secret_bytes()),
            accounts,
            queues,
        })
    }

    /// Writes the state file at `path` atomically (temporary file, sync, rename).
    ///
    /// # Errors
    ///
    /// [`Error::StateFile`] if it cannot be written.
    pub fn save_state(&self, path: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.snapshot()?).map_err(bad)?;
        write_atomically(path, &bytes)
    }

    /// A simulator restored from the state file at `path`, or a new one if there is none.
    ///
    /// # Errors
    ///
    /// [`Error::StateFile`] if the file cannot be read, is of another version or is malformed
    /// (it is left as it is).
    pub fn open_state(config: SimConfig, path: &Path) -> Result<Self> {
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::new(config)),
            Err(e) => return Err(bad(format!("{}: {e}", path.display()))),
        };
        let file: StateFile =
            serde_json::from_slice(&text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        if file.version != STATE_VERSION {
            return Err(bad(format!(
                "{}: version {} (this wa-sim reads version {STATE_VERSION})",
                path.display(),
                file.version
            )));
        }
        let sim =
            Self::with_keys(config, Some((key_pair(&file.root)?, key_pair(&file.static_key)?)));
        // A seeded simulator would otherwise draw the same values as before the restart (new
        // accounts with the keys of restored ones): the seed is mixed with the file's hash.
        if let Some(seed) = sim.inner.config.seed {
            let digest = Sha256::digest(&text);
            let mut mix = [0u8; 8];
            mix.copy_from_slice(&digest[..8]);
            *sim.rng() = StdRng::seed_from_u64(seed ^ u64::from_le_bytes(mix));
        }
        let now = sim.now();
        for a in file.accounts {
            let identity = key_pair(&a.identity)?;
            let mut devices = BTreeMap::new();
            for d in a.devices {
                let prekeys = d
                    .prekeys
                    .into_iter()
                    .map(|(id, key)| Ok((id, hex::decode(key).map_err(bad)?)))
                    .collect::<Result<BTreeMap<_, _>>>()?;
                let signed_prekey = match d.signed_prekey {
                    Some(s) => Some(SignedPreKey {
                        id: s.id,
                        public: hex::decode(s.public).map_err(bad)?,
                        signature: hex::decode(s.signature).map_err(bad)?,
                    }),
                    None => None,
                };
                let noise_key = d.noise_key.as_deref().map(public).transpose()?;
                let device = Device {
                    noise_key,
                    identity_key: public(&d.identity_key)?,
                    registration_id: d.registration_id,
                    key_index: d.key_index,
                    platform: d.platform,
                    removed: d.removed,
                    prekeys,
                    signed_prekey,
                };
                devices.insert(d.device, device);
            }
            // The phone comes back with the account's identity and fresh prekeys (its Signal
            // sessions are not kept); the server publishes the new ones for device 0.
            let registration_id =
                devices.get(&0).map_or(a.adv_raw_id & 0x3fff, |d| d.registration_id);
            let (phone_state, signed, one_time) = {
                let mut rng = sim.rng();
                new_phone(&identity, registration_id, &a.phone, &a.lid, now, &mut rng)?
            };
            if let Some(primary) = devices.get_mut(&0) {
                primary.prekeys = one_time.into_iter().collect();
                primary.signed_prekey = Some(signed);
            }
            let account = Account {
                phone: a.phone.clone(),
                lid: a.lid,
                identity,
                adv_raw_id: a.adv_raw_id,
                next_key_index: a.next_key_index,
                next_device: a.next_device,
                devices,
            };
            sim.state().accounts.insert(a.phone.clone(), account);
            sim.phones().insert(a.phone, std::sync::Arc::new(phone_state));
        }
        for q in file.queues {
            let entries = q
                .entries
                .into_iter()
                .map(|e| {
                    let bytes = STANDARD.decode(e.node).map_err(bad)?;
                    Ok(Queued {
                        class: class(&e.class)?,
                        id: e.id,
                        node: wa_proto::decode(&bytes)?,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            sim.state().queues.insert((q.phone, q.device), entries);
        }
        Ok(sim)
    }

    /// Saves the state file at `path` whenever the state changed, checking every `every`
    /// (the task ends with the runtime). Errors are logged and retried at the next check.
    pub fn persist(&self, path: PathBuf, every: Duration) -> tokio::task::JoinHandle<()> {
        let sim = self.clone();
        tokio::spawn(async move {
            let mut written: Option<StateFile> = None;
            loop {
                tokio::time::sleep(every).await;
                let now = match sim.snapshot() {
                    Ok(now) => now,
                    Err(e) => {
                        tracing::warn!("state file: {e}");
                        continue;
                    }
                };
                if written.as_ref() == Some(&now) {
                    continue;
                }
                match serde_json::to_vec_pretty(&now)
                    .map_err(bad)
                    .and_then(|b| write_atomically(&path, &b))
                {
                    Ok(()) => written = Some(now),
                    Err(e) => tracing::warn!("state file: {e}"),
                }
            }
        })
    }
}

/// Writes `bytes` to a temporary file next to `path`, syncs it, and renames it over `path`, so
/// that a crash leaves the old file or the new one, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().ok_or_else(|| bad(format!("{} is not a file", path.display())))?;
    let mut temporary = name.to_owned();
    temporary.push(".tmp");
    let temporary = path.with_file_name(temporary);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        bad(format!("{}: {e}", path.display()))
    })
}
