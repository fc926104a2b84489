//! The JSON shapes shared by the API's answers and the event stream: a line and a message look
//! the same in `GET /api/...` and in the events that announce them. They sit below both the
//! HTTP layer and the event bus, so that an event can carry them without the bus reaching up
//! into `http/`; they are owned values (Serialize and Deserialize), so that an event carrying
//! one can come from another node as well.

mod line;
mod message;

pub use line::LineOut;
pub use message::{MediaOut, MessageOut, media_file_name, status_from_name, status_name};
