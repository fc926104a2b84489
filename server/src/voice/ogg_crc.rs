//! The Ogg page checksum: CRC-32 with polynomial 0x04c11db7, initial value 0, no reflection and
//! no final XOR (RFC 3533 section 6), computed with the checksum field set to zero.

/// The generator polynomial.
const POLY: u32 = 0x04c1_1db7;

/// The 256-entry lookup table, built at compile time.
const TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        #[allow(clippy::cast_possible_truncation)]
        let mut r = (i as u32) << 24;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 0x8000_0000 != 0 { (r << 1) ^ POLY } else { r << 1 };
            bit += 1;
        }
        table[i] = r;
        i += 1;
    }
    table
};

/// The checksum of `data`.
#[must_use]
pub fn ogg_crc(data: &[u8]) -> u32 {
    data.iter()
        .fold(0u32, |crc, &byte| (crc << 8) ^ TABLE[usize::from(crc.to_be_bytes()[0] ^ byte)])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit by bit, straight from the definition.
    fn slow(data: &[u8]) -> u32 {
        let mut crc = 0u32;
        for &byte in data {
            crc ^= u32::from(byte) << 24;
            for _ in 0..8 {
                crc = if crc & 0x8000_0000 != 0 { (crc << 1) ^ POLY } else { crc << 1 };
            }
        }
        crc
    }

    #[test]
    fn table_matches_definition() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        assert_eq!(ogg_crc(&data), slow(&data));
        assert_eq!(ogg_crc(b""), 0);
    }

    #[test]
    fn known_check_value() {
        // CRC-32/MPEG-2 differs (initial value); this variant, CRC-32/OGG as catalogued, gives
        // 0x89a1897f for "123456789".
        assert_eq!(ogg_crc(b"123456789"), 0x89a1_897f);
    }
}
