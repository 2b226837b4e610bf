//! CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as the event-stream prelude and
//! message checksums use. Slicing-by-8: eight 1 KiB tables built at compile time let the
//! loop fold 8 input bytes per step, several times faster than a byte-at-a-time table.

const POLYNOMIAL: u32 = 0xEDB8_8320;
const SLICES: usize = 8;

/// `TABLES[0]` is the classic byte table; `TABLES[k][b]` is the CRC contribution of byte `b`
/// followed by `k` zero bytes.
static TABLES: [[u32; 256]; SLICES] = build_tables();

// Only ever evaluated at compile time (it initialises a `static`): an index out of range
// would fail the build, so it cannot panic in the filter.
#[allow(clippy::indexing_slicing)]
const fn build_tables() -> [[u32; 256]; SLICES] {
    let mut tables = [[0u32; 256]; SLICES];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = byte as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLYNOMIAL
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][byte] = crc;
        byte += 1;
    }
    let mut slice = 1;
    while slice < SLICES {
        let mut byte = 0;
        while byte < 256 {
            let prev = tables[slice - 1][byte];
            tables[slice][byte] = (prev >> 8) ^ tables[0][(prev & 0xFF) as usize];
            byte += 1;
        }
        slice += 1;
    }
    tables
}

#[inline(always)]
fn lookup(table: &[u32; 256], byte: u8) -> u32 {
    // A u8 always indexes a 256-entry table: the optimiser drops the check.
    table.get(usize::from(byte)).copied().unwrap_or(0)
}

/// Incremental CRC-32: feed any split of the input, get the same checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crc32 {
    state: u32,
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

impl Crc32 {
    pub const fn new() -> Self {
        Crc32 { state: !0 }
    }

    pub fn update(&mut self, bytes: &[u8]) {
        let [t0, t1, t2, t3, t4, t5, t6, t7] = &TABLES;
        let mut crc = self.state;
        let (blocks, tail) = bytes.as_chunks::<SLICES>();
        for block in blocks {
            let b = (u64::from_le_bytes(*block) ^ u64::from(crc)).to_le_bytes();
            crc = lookup(t7, b[0])
                ^ lookup(t6, b[1])
                ^ lookup(t5, b[2])
                ^ lookup(t4, b[3])
                ^ lookup(t3, b[4])
                ^ lookup(t2, b[5])
                ^ lookup(t1, b[6])
                ^ lookup(t0, b[7]);
        }
        for &byte in tail {
            crc = (crc >> 8) ^ lookup(t0, (crc as u8) ^ byte);
        }
        self.state = crc;
    }

    pub const fn finalize(&self) -> u32 {
        !self.state
    }
}

/// CRC-32 of `bytes` in one call.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = Crc32::new();
    crc.update(bytes);
    crc.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Byte-at-a-time reference, straight from the polynomial.
    fn bitwise(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLYNOMIAL
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn check_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn matches_bitwise_reference_at_every_length_and_split() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in 0..data.len() {
            let want = bitwise(&data[..len]);
            assert_eq!(crc32(&data[..len]), want, "len {len}");
            for split in [0, 1, 3, 7, 8, 9, len / 2, len] {
                let split = split.min(len);
                let mut c = Crc32::new();
                c.update(&data[..split]);
                c.update(&data[split..len]);
                assert_eq!(c.finalize(), want, "len {len} split {split}");
            }
        }
    }
}
