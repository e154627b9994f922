//! PostgreSQL binary `COPY` encoding: the fastest way to move rows from Rust.

use monitor_core::Timestamp;

/// Microseconds from the Unix epoch to PostgreSQL's epoch (2000-01-01T00:00:00Z).
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// A buffer of binary `COPY` tuples for one table.
pub(crate) struct CopyBuffer {
    buf: Vec<u8>,
    rows: usize,
    fields_in_row: u16,
    row_start: usize,
}

impl CopyBuffer {
    /// An empty buffer with the binary header written.
    pub(crate) fn new(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity.max(64));
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0i32.to_be_bytes()); // flags
        buf.extend_from_slice(&0i32.to_be_bytes()); // header extension length
        CopyBuffer { buf, rows: 0, fields_in_row: 0, row_start: 0 }
    }

    /// Rows added so far.
    pub(crate) const fn rows(&self) -> usize {
        self.rows
    }

    /// Starts a tuple; its field count is patched in when the next one starts or on finish.
    pub(crate) fn start_row(&mut self) {
        self.patch_row();
        self.row_start = self.buf.len();
        self.buf.extend_from_slice(&0i16.to_be_bytes());
        self.fields_in_row = 0;
        self.rows += 1;
    }

    fn patch_row(&mut self) {
        if self.rows > 0 {
            let count = self.fields_in_row.to_be_bytes();
            self.buf[self.row_start..self.row_start + 2].copy_from_slice(&count);
        }
    }

    fn field(&mut self, bytes: &[u8]) {
        self.fields_in_row += 1;
        let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(bytes);
    }

    /// A NULL.
    pub(crate) fn null(&mut self) {
        self.fields_in_row += 1;
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
    }

    /// A `text` value.
    pub(crate) fn text(&mut self, value: &str) {
        self.field(value.as_bytes());
    }

    /// A nullable `text` value.
    pub(crate) fn opt_text(&mut self, value: Option<&str>) {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// A `timestamptz`.
    pub(crate) fn timestamp(&mut self, value: Timestamp) {
        let pg = value.as_micros().saturating_sub(PG_EPOCH_OFFSET_MICROS);
        self.field(&pg.to_be_bytes());
    }

    /// A `double precision`.
    pub(crate) fn float8(&mut self, value: f64) {
        self.field(&value.to_bits().to_be_bytes());
    }

    /// A nullable `double precision`.
    pub(crate) fn opt_float8(&mut self, value: Option<f64>) {
        match value {
            Some(v) => self.float8(v),
            None => self.null(),
        }
    }

    /// A `boolean`.
    pub(crate) fn boolean(&mut self, value: bool) {
        self.field(&[u8::from(value)]);
    }

    /// A `bigint`.
    pub(crate) fn int8(&mut self, value: i64) {
        self.field(&value.to_be_bytes());
    }

    /// A `smallint`.
    pub(crate) fn int2(&mut self, value: i16) {
        self.field(&value.to_be_bytes());
    }

    /// A nullable `bytea`.
    pub(crate) fn opt_bytea(&mut self, value: Option<&[u8]>) {
        match value {
            Some(v) => self.field(v),
            None => self.null(),
        }
    }

    /// A `jsonb` value serialized straight into the buffer.
    pub(crate) fn jsonb<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        self.fields_in_row += 1;
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&0i32.to_be_bytes());
        self.buf.push(1); // jsonb binary format version
        // Serializing plain data (string keys) into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.buf, value);
        let len = i32::try_from(self.buf.len() - len_at - 4).unwrap_or(i32::MAX);
        self.buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// The finished bytes, trailer included.
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.patch_row();
        self.buf.extend_from_slice(&(-1i16).to_be_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_header_rows_and_trailer() {
        let mut copy = CopyBuffer::new(0);
        copy.start_row();
        copy.text("a");
        copy.null();
        copy.timestamp(Timestamp(PG_EPOCH_OFFSET_MICROS + 1));
        let bytes = copy.finish();
        assert!(bytes.starts_with(b"PGCOPY\n\xff\r\n\0"));
        assert_eq!(&bytes[19..21], &3i16.to_be_bytes());
        assert_eq!(&bytes[21..26], &[0, 0, 0, 1, b'a']);
        assert_eq!(&bytes[26..30], &(-1i32).to_be_bytes());
        assert_eq!(&bytes[30..42], &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&bytes[42..], &(-1i16).to_be_bytes());
    }
}
