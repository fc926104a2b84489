//! A shared place (`locationMessage`) and the text a person reads for it.

/// The fields of a `locationMessage`, borrowed from it. A received one may lack any of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location<'a> {
    /// Degrees north (negative: south).
    pub latitude: Option<f64>,
    /// Degrees east (negative: west).
    pub longitude: Option<f64>,
    /// The place's name.
    pub name: Option<&'a str>,
    /// The place's address.
    pub address: Option<&'a str>,
    /// A link the sender's app attached.
    pub url: Option<&'a str>,
}

impl Location<'_> {
    /// The coordinates, when both are there and on the globe.
    #[must_use]
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        let (lat, lon) = (self.latitude?, self.longitude?);
        ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some((lat, lon))
    }

    /// What a person reads: the name, the address and the coordinates, one per line (the
    /// coordinates last, as `lat, lon` with six decimals, so that a reader can find them again).
    #[must_use]
    pub fn text(&self) -> String {
        let mut lines: Vec<String> = [self.name, self.address]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some((lat, lon)) = self.coordinates() {
            lines.push(format!("{lat:.6}, {lon:.6}"));
        }
        lines.join("\n")
    }
}

/// The coordinates on the last line of a location's [`text`](Location::text), if it has them.
#[must_use]
pub fn coordinates_in(text: &str) -> Option<(f64, f64)> {
    let (lat, lon) = text.lines().last()?.split_once(", ")?;
    let location = Location {
        latitude: lat.parse().ok(),
        longitude: lon.parse().ok(),
        name: None,
        address: None,
        url: None,
    };
    location.coordinates()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lists_name_address_and_coordinates_which_read_back() {
        let place = Location {
            latitude: Some(-23.561_414),
            longitude: Some(-46.655_881),
            name: Some("MASP"),
            address: Some(" Av. Paulista, 1578 "),
            url: None,
        };
        let text = place.text();
        assert_eq!(text, "MASP\nAv. Paulista, 1578\n-23.561414, -46.655881");
        assert_eq!(coordinates_in(&text), Some((-23.561_414, -46.655_881)));
    }

    #[test]
    fn coordinates_off_the_globe_or_missing_are_left_out() {
        let off = Location {
            latitude: Some(91.0),
            longitude: Some(0.0),
            name: Some("X"),
            address: None,
            url: None,
        };
        assert_eq!((off.coordinates(), off.text().as_str()), (None, "X"));
        let none = Location { latitude: None, ..off };
        assert_eq!(none.text(), "X");
        assert_eq!(coordinates_in("Av. Paulista, 1578"), None);
        assert_eq!(coordinates_in(""), None);
        assert_eq!(coordinates_in("NaN, NaN"), None);
    }
}
