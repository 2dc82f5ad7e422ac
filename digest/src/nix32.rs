//! Nix's base-32: the alphabet without `e`, `o`, `u` and `t`, read from the last bit
//! of the digest backwards, so the final byte of a digest comes out first.

/// The 32 characters, in digit order.
pub const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// The encoded length of `bytes` bytes: `(8n - 1) / 5 + 1` (52 for SHA-256).
pub const fn encoded_len(bytes: usize) -> usize {
    if bytes == 0 {
        0
    } else {
        (bytes * 8 - 1) / 5 + 1
    }
}

pub fn encode(bytes: &[u8]) -> String {
    let len = encoded_len(bytes.len());
    let mut out = String::with_capacity(len);
    // Character k, counted from the right, holds bits 5k..5k+4 of the digest read
    // as one little-endian number.
    for k in (0..len).rev() {
        let bit = k * 5;
        let (byte, shift) = (bit / 8, bit % 8);
        let mut value = u16::from(bytes[byte]) >> shift;
        if let Some(&next) = bytes.get(byte + 1) {
            value |= u16::from(next) << (8 - shift);
        }
        out.push(ALPHABET[usize::from(value & 0x1f)] as char);
    }
    out
}

/// Why a nix32 string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("a nix32 hash of {bytes} bytes has {expected} characters, this one has {actual}")]
    Length {
        bytes: usize,
        expected: usize,
        actual: usize,
    },
    #[error(
        "character {position} ({character:?}) is not in Nix's base-32 alphabet (0-9 and a-z without e, o, u, t)"
    )]
    Character { position: usize, character: char },
    #[error("the first character sets bits beyond the end of the digest")]
    Overflow,
}

pub fn decode(text: &str, out: &mut [u8]) -> Result<(), DecodeError> {
    let expected = encoded_len(out.len());
    let chars: Vec<char> = text.chars().collect();
    if chars.len() != expected {
        return Err(DecodeError::Length {
            bytes: out.len(),
            expected,
            actual: chars.len(),
        });
    }
    out.fill(0);
    for (position, &character) in chars.iter().enumerate() {
        let digit = u8::try_from(character)
            .ok()
            .and_then(|c| ALPHABET.iter().position(|&a| a == c))
            .ok_or(DecodeError::Character {
                position,
                character,
            })? as u16;
        let k = expected - 1 - position;
        let bit = k * 5;
        let (byte, shift) = (bit / 8, bit % 8);
        let spread = digit << shift;
        out[byte] |= (spread & 0xff) as u8;
        let carry = (spread >> 8) as u8;
        match out.get_mut(byte + 1) {
            Some(next) => *next |= carry,
            None if carry != 0 => return Err(DecodeError::Overflow),
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(encoded_len(32), 52);
        assert_eq!(encoded_len(20), 32);
        assert_eq!(encoded_len(16), 26);
        assert_eq!(encoded_len(64), 103);
    }

    #[test]
    fn rejects_bits_past_the_end() {
        // 52 characters carry 260 bits; a SHA-256 has 256, so the leading
        // character must be 0 or 1.
        let mut out = [0u8; 32];
        let text = format!("2{}", "0".repeat(51));
        assert_eq!(decode(&text, &mut out), Err(DecodeError::Overflow));
        let text = format!("1{}", "0".repeat(51));
        assert_eq!(decode(&text, &mut out), Ok(()));
        assert_eq!(out[31], 0x80);
    }

    #[test]
    fn rejects_letters_outside_the_alphabet() {
        let mut out = [0u8; 32];
        for bad in ['e', 'o', 'u', 't', 'A', '-', 'é'] {
            let text = format!("0{bad}{}", "0".repeat(50));
            assert!(
                matches!(
                    decode(&text, &mut out),
                    Err(DecodeError::Character { position: 1, .. })
                ),
                "{bad:?} accepted"
            );
        }
    }
}
