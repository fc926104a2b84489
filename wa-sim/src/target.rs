//! Which connections a control call or a fault rule covers.

/// Which connections a control call acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    /// Only connections of this account (`None`: every connection, including unpaired ones).
    pub phone: Option<String>,
    /// Only this device of the account.
    pub device: Option<u16>,
}
