//! The control API over HTTP JSON (loopback only). Routes are listed in the crate README.

use std::{convert::Infallible, net::SocketAddr};

use serde::Deserialize;
use serde_json::{Value, json};
use warp::{Filter, Reply, http::StatusCode, reply};

use crate::{
    Error, Latency, MediaKind, PhoneContent, PhoneMessage, Quoted, Result, Sim, StreamError, Target,
};

#[derive(Debug, Deserialize)]
struct CreateAccount {
    phone: String,
    lid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Scan {
    qr: String,
    phone: String,
}

#[derive(Debug, Deserialize)]
struct Kick {
    phone: String,
    device: u16,
}

#[derive(Debug, Deserialize, Default)]
struct TargetBody {
    phone: Option<String>,
    device: Option<u16>,
    /// For `/stream-error`: `515`, `503`, `replaced`, `device_removed`.
    error: Option<String>,
    /// For `/faults/latency`: delay on frames sent, ms.
    #[serde(default)]
    send_ms: u64,
    /// For `/faults/latency`: delay on frames received, ms.
    #[serde(default)]
    receive_ms: u64,
    /// For `/faults/drop`: how many stanzas to drop.
    stanzas: Option<u32>,
}

impl TargetBody {
    fn target(&self) -> Target {
        Target { phone: self.phone.clone(), device: self.device }
    }
}

/// `POST /phones/{phone}/send`: `to` and one of `text`, `image`, `video`, `document`, `voice`
/// (base64), `location` (`{latitude, longitude, name?, address?}`), `contacts`
/// (`[{name, vcard}]`), with `mimetype`, `caption`, `file_name`, `seconds`, `quoted`.
#[derive(Debug, Deserialize)]
struct PhoneSend {
    to: String,
    text: Option<String>,
    image: Option<String>,
    video: Option<String>,
    document: Option<String>,
    voice: Option<String>,
    mimetype: Option<String>,
    caption: Option<String>,
    file_name: Option<String>,
    seconds: Option<u32>,
    location: Option<LocationBody>,
    contacts: Option<Vec<ContactBody>>,
    quoted: Option<QuotedBody>,
}

#[derive(Debug, Deserialize)]
struct LocationBody {
    latitude: f64,
    longitude: f64,
    name: Option<String>,
    address: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ContactBody {
    name: String,
    vcard: String,
}

#[derive(Debug, Deserialize)]
struct QuotedBody {
    id: String,
    participant: Option<String>,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct AutoAnswer {
    enabled: bool,
    template: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Read {
    chat: String,
    ids: Vec<String>,
}

/// What a send body without exactly one content is told.
const ONE_CONTENT: &str =
    "give exactly one of text, image, video, document, voice, location, contacts (not empty)";

impl PhoneSend {
    /// The message this body asks for, or what is wrong with it.
    fn message(mut self) -> Result<PhoneMessage, String> {
        use base64::Engine as _;
        let decode = |b64: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("media is not base64: {e}"))
        };
        let media = |kind, b64: &str, default: &str| -> Result<PhoneContent, String> {
            Ok(PhoneContent::Media {
                kind,
                bytes: decode(b64)?,
                mimetype: self.mimetype.clone().unwrap_or_else(|| default.to_owned()),
                caption: self.caption.clone(),
                file_name: self.file_name.clone(),
            })
        };
        let others = [&self.text, &self.image, &self.video, &self.document, &self.voice];
        let none_else = others.iter().all(|other| other.is_none());
        let content = match (&self.text, &self.image, &self.video, &self.document, &self.voice) {
            _ if self.location.is_some() || self.contacts.is_some() => {
                match (self.location.take(), self.contacts.take()) {
                    (Some(place), None) if none_else => PhoneContent::Location {
                        latitude: place.latitude,
                        longitude: place.longitude,
                        name: place.name,
                        address: place.address,
                    },
                    (None, Some(cards)) if none_else && !cards.is_empty() => {
                        PhoneContent::Contacts(
                            cards.into_iter().map(|card| (card.name, card.vcard)).collect(),
                        )
                    }
                    _ => return Err(ONE_CONTENT.to_owned()),
                }
            }
            (Some(text), None, None, None, None) => PhoneContent::Text(text.clone()),
            (None, Some(b64), None, None, None) => media(MediaKind::Image, b64, "image/jpeg")?,
            (None, None, Some(b64), None, None) => media(MediaKind::Video, b64, "video/mp4")?,
            (None, None, None, Some(b64), None) => {
                media(MediaKind::Document, b64, "application/octet-stream")?
            }
            (None, None, None, None, Some(b64)) => {
                PhoneContent::Voice { bytes: decode(b64)?, seconds: self.seconds.unwrap_or(1) }
            }
            _ => return Err(ONE_CONTENT.to_owned()),
        };
        let quoted =
            self.quoted.map(|q| Quoted { id: q.id, participant: q.participant, text: q.text });
        Ok(PhoneMessage { to: self.to, content, quoted })
    }
}

fn bad_request(message: &str) -> reply::Response {
    reply::with_status(reply::json(&json!({ "error": message })), StatusCode::BAD_REQUEST)
        .into_response()
}

fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::NoAccount(_) | Error::NoDevice { .. } | Error::NoPairingConnection => {
            StatusCode::NOT_FOUND
        }
        Error::AccountExists(_) | Error::TooManyCompanions(_) => StatusCode::CONFLICT,
        Error::PairingTimeout => StatusCode::GATEWAY_TIMEOUT,
        Error::PairingFailed(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn respond(result: Result<Value>) -> reply::Response {
    match result {
        Ok(value) => reply::json(&value).into_response(),
        Err(error) => reply::with_status(
            reply::json(&json!({ "error": error.to_string() })),
            status_of(&error),
        )
        .into_response(),
    }
}

fn to_value(value: impl serde::Serialize) -> Result<Value> {
    Ok(serde_json::to_value(value).unwrap_or(Value::Null))
}

fn json_body<T: serde::de::DeserializeOwned + Send>()
-> impl Filter<Extract = (T,), Error = warp::Rejection> + Clone {
    warp::body::content_length_limit(64 * 1024).and(warp::body::json())
}

impl Sim {
    /// The control API as a warp filter (for embedding in another server).
    pub fn control_filter(
        &self,
    ) -> impl Filter<Extract = (reply::Response,), Error = warp::Rejection> + Clone + use<> {
        let sim = self.clone();
        let with_sim = warp::any().map(move || sim.clone());

        let create =
            warp::post().and(warp::path!("accounts")).and(with_sim.clone()).and(json_body()).map(
                |sim: Sim, body: CreateAccount| {
                    respond(sim.create_account(&body.phone, body.lid.as_deref()).and_then(to_value))
                },
            );
        let list = warp::get()
            .and(warp::path!("accounts"))
            .and(with_sim.clone())
            .map(|sim: Sim| respond(to_value(sim.accounts())));
        let devices = warp::get()
            .and(warp::path!("accounts" / String / "devices"))
            .and(with_sim.clone())
            .map(|phone: String, sim: Sim| respond(sim.devices(&phone).and_then(to_value)));
        let scan =
            warp::post().and(warp::path!("scan")).and(with_sim.clone()).and(json_body()).then(
                |sim: Sim, body: Scan| async move {
                    respond(sim.scan(&body.qr, &body.phone).await.and_then(to_value))
                },
            );
        let kick =
            warp::post().and(warp::path!("kick")).and(with_sim.clone()).and(json_body()).map(
                |sim: Sim, body: Kick| {
                    respond(sim.kick(&body.phone, body.device).map(|n| json!({ "closed": n })))
                },
            );
        let stream_error = warp::post()
            .and(warp::path!("stream-error"))
            .and(with_sim.clone())
            .and(json_body())
            .map(|sim: Sim, body: TargetBody| {
                let Some(error) = body.error.as_deref().and_then(StreamError::parse) else {
                    return bad_request("error must be 515, 503, replaced or device_removed");
                };
                respond(Ok(json!({ "closed": sim.inject(&body.target(), error) })))
            });
        let close =
            warp::post().and(warp::path!("close")).and(with_sim.clone()).and(json_body()).map(
                |sim: Sim, body: TargetBody| {
                    respond(Ok(json!({ "closed": sim.close(&body.target()) })))
                },
            );
        let counters = warp::get()
            .and(warp::path!("counters"))
            .and(with_sim.clone())
            .map(|sim: Sim| respond(to_value(sim.counters())));
        let latency = warp::post()
            .and(warp::path!("faults" / "latency"))
            .and(with_sim.clone())
            .and(json_body())
            .map(|sim: Sim, body: TargetBody| {
                let latency = Latency { send_ms: body.send_ms, receive_ms: body.receive_ms };
                sim.set_latency(&body.target(), latency);
                respond(Ok(json!({ "faults": sim.faults() })))
            });
        let drop = warp::post()
            .and(warp::path!("faults" / "drop"))
            .and(with_sim.clone())
            .and(json_body())
            .map(|sim: Sim, body: TargetBody| {
                let Some(count) = body.stanzas.filter(|n| *n > 0) else {
                    return bad_request("stanzas must be a positive number");
                };
                sim.drop_stanzas(&body.target(), count);
                respond(Ok(json!({ "faults": sim.faults() })))
            });
        let black_hole = warp::post()
            .and(warp::path!("faults" / "black-hole"))
            .and(with_sim.clone())
            .and(json_body())
            .map(|sim: Sim, body: TargetBody| {
                respond(Ok(json!({ "black_holed": sim.black_hole(&body.target()) })))
            });
        let clear = warp::post()
            .and(warp::path!("faults" / "clear"))
            .and(with_sim.clone())
            .map(|sim: Sim| respond(Ok(json!({ "cleared": sim.clear_faults() }))));
        let list_faults = warp::get()
            .and(warp::path!("faults"))
            .and(with_sim.clone())
            .map(|sim: Sim| respond(to_value(sim.faults())));
        let phone_send = warp::post()
            .and(warp::path!("phones" / String / "send"))
            .and(with_sim.clone())
            .and(warp::body::content_length_limit(16 << 20).and(warp::body::json()))
            .then(|phone: String, sim: Sim, body: PhoneSend| async move {
                match body.message() {
                    Ok(message) => {
                        respond(sim.phone_send(&phone, message).await.map(|id| json!({ "id": id })))
                    }
                    Err(error) => bad_request(&error),
                }
            });
        let phone_received = warp::get()
            .and(warp::path!("phones" / String / "received"))
            .and(with_sim.clone())
            .map(|phone: String, sim: Sim| {
                respond(sim.phone_received(&phone).and_then(|received| {
                    let receipts = sim.phone_receipts(&phone)?;
                    to_value(json!({ "messages": received, "receipts": receipts }))
                }))
            });
        let auto_answer = warp::post()
            .and(warp::path!("phones" / String / "auto-answer"))
            .and(with_sim.clone())
            .and(json_body())
            .map(|phone: String, sim: Sim, body: AutoAnswer| {
                let template =
                    body.enabled.then(|| body.template.unwrap_or_else(|| "echo: {text}".into()));
                respond(
                    sim.set_auto_answer(&phone, template.clone())
                        .map(|()| json!({ "auto_answer": template })),
                )
            });
        let read = warp::post()
            .and(warp::path!("phones" / String / "read"))
            .and(with_sim.clone())
            .and(json_body())
            .map(|phone: String, sim: Sim, body: Read| {
                respond(
                    sim.phone_read(&phone, &body.chat, &body.ids)
                        .map(|()| json!({ "read": body.ids })),
                )
            });
        let device_received = warp::get()
            .and(warp::path!("accounts" / String / "devices" / u16 / "received"))
            .and(with_sim.clone())
            .map(|phone: String, device: u16, sim: Sim| {
                respond(sim.device_received(&phone, device).and_then(to_value))
            });
        let phones = phone_send
            .or(phone_received)
            .unify()
            .or(auto_answer)
            .unify()
            .or(read)
            .unify()
            .or(device_received)
            .unify()
            .boxed();
        let certificate =
            warp::get().and(warp::path!("certificate")).and(with_sim).map(|sim: Sim| {
                match sim.certificate_pem() {
                    Ok(pem) => reply::with_header(pem, "content-type", "application/x-pem-file")
                        .into_response(),
                    Err(error) => respond(Err(error)),
                }
            });
        let calls = create
            .or(list)
            .unify()
            .or(devices)
            .unify()
            .or(scan)
            .unify()
            .or(kick)
            .unify()
            .or(stream_error)
            .unify()
            .or(close)
            .unify()
            .or(counters)
            .unify()
            // Boxed in two halves: one long chain of `or`s overflows the trait solver.
            .boxed();
        let faults = latency
            .or(drop)
            .unify()
            .or(black_hole)
            .unify()
            .or(clear)
            .unify()
            .or(list_faults)
            .unify()
            .or(certificate)
            .unify()
            .boxed();
        calls.or(faults).unify().or(phones).unify()
    }

    /// Binds the control API on `addr` (loopback only) and serves it in the background.
    ///
    /// # Errors
    ///
    /// [`Error::NotLoopback`], [`Error::Bind`].
    pub async fn serve_control(&self, addr: SocketAddr) -> Result<SocketAddr> {
        if !addr.ip().is_loopback() {
            return Err(Error::NotLoopback(addr));
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| Error::Bind { addr, source })?;
        let local = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
        let filter = self.control_filter().recover(|_| async {
            Ok::<_, Infallible>(reply::with_status(
                reply::json(&json!({ "error": "no such route or bad body" })),
                StatusCode::NOT_FOUND,
            ))
        });
        tokio::spawn(warp::serve(filter).incoming(listener).run());
        Ok(local)
    }
}
