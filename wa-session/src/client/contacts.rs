//! Asking WhatsApp whether phone numbers are registered (the usync contact query).

use crate::{
    Result,
    message::{ContactStatus, contact_query, parse_contacts},
};

use super::Client;

impl Client {
    /// Asks WhatsApp which of `phones` (digits, with or without a leading `+`) are registered:
    /// one usync contact query, in the interactive context as for a number typed by a person.
    /// Numbers the answer does not mention are not in the result.
    ///
    /// # Errors
    ///
    /// [`crate::MessageError::Stanza`] for an argument that is not a phone number or too many
    /// of them, and for an answer that is not a contact list; the iq errors of
    /// [`Client::iq`].
    pub async fn is_on_whatsapp(&self, phones: &[&str]) -> Result<Vec<ContactStatus>> {
        let query = contact_query(&self.shared.random_id(), &self.shared.random_id(), phones)?;
        let answer = self.iq(query).await?;
        parse_contacts(&answer)
    }
}
