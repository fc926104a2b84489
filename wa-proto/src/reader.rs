//! A bounded cursor over untrusted bytes: every read checks what remains.

use crate::error::{Error, Result};

/// A cursor over a byte slice. Reads never index past the end; they return [`Error::UnexpectedEnd`].
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    pub(crate) fn take(&mut self, count: usize) -> Result<&'a [u8]> {
        let remaining = self.remaining();
        if count > remaining {
            return Err(Error::UnexpectedEnd { needed: count, remaining });
        }
        let start = self.position;
        self.position += count;
        Ok(&self.bytes[start..self.position])
    }

    pub(crate) fn take_array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        Ok(self.take_array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.take_array()?))
    }

    /// A 20-bit length in three bytes; the top nibble of the first byte is ignored, as every peer does.
    pub(crate) fn u20(&mut self) -> Result<u32> {
        let [a, b, c] = self.take_array()?;
        Ok((u32::from(a & 0x0f) << 16) | (u32::from(b) << 8) | u32::from(c))
    }

    pub(crate) fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(self.take_array()?))
    }

    /// Fails with [`Error::TrailingBytes`] unless the whole input was consumed.
    pub(crate) fn finish(self) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(Error::TrailingBytes { count }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let mut reader = Reader::new(&[1, 2, 3]);
        assert_eq!(reader.u16().unwrap(), 0x0102);
        assert_eq!(reader.u16(), Err(Error::UnexpectedEnd { needed: 2, remaining: 1 }));
        assert_eq!(reader.clone().finish(), Err(Error::TrailingBytes { count: 1 }));
        assert_eq!(reader.u8().unwrap(), 3);
        assert_eq!(
            reader.take(usize::MAX),
            Err(Error::UnexpectedEnd { needed: usize::MAX, remaining: 0 })
        );
        reader.finish().unwrap();
    }

    #[test]
    fn u20_masks_the_top_nibble() {
        assert_eq!(Reader::new(&[0xf1, 0x02, 0x03]).u20().unwrap(), 0x010203);
    }
}
