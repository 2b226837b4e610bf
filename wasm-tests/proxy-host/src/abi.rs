//! Proxy-Wasm ABI v0.2.1 (and v0.2.0, the same functions) as the host sees it: the numbers on
//! the wire and the serialized map format. Names follow the specification's
//! (`proxy_status_t`, `proxy_buffer_type_t`, ...).

/// `proxy_status_t`: what every `proxy_*` hostcall returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Status {
    Ok = 0,
    NotFound = 1,
    BadArgument = 2,
    SerializationFailure = 3,
    ParseFailure = 4,
    InvalidMemoryAccess = 6,
    Empty = 7,
    CasMismatch = 8,
    InternalFailure = 10,
    Unimplemented = 12,
}

impl Status {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// `proxy_log_level_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

impl LogLevel {
    pub fn from_abi(v: u32) -> Option<LogLevel> {
        Some(match v {
            0 => LogLevel::Trace,
            1 => LogLevel::Debug,
            2 => LogLevel::Info,
            3 => LogLevel::Warn,
            4 => LogLevel::Error,
            5 => LogLevel::Critical,
            _ => return None,
        })
    }
}

/// `proxy_action_t`, as returned by the stream callbacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Continue,
    /// `PAUSE`: on headers Envoy's StopIteration (with `allow_on_headers_stop_iteration`), on
    /// bodies StopIterationAndBuffer.
    Pause,
}

impl Action {
    /// Any value but 0 stops iteration (Envoy maps 2 and 3 to watermark / no-buffer variants,
    /// which the SDK never returns).
    pub fn from_abi(v: i32) -> Action {
        if v == 0 {
            Action::Continue
        } else {
            Action::Pause
        }
    }
}

/// `proxy_buffer_type_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufferType {
    HttpRequestBody,
    HttpResponseBody,
    DownstreamData,
    UpstreamData,
    HttpCallResponseBody,
    GrpcCallMessage,
    VmConfiguration,
    PluginConfiguration,
    ForeignFunctionArguments,
}

impl BufferType {
    pub fn from_abi(v: u32) -> Option<BufferType> {
        Some(match v {
            0 => BufferType::HttpRequestBody,
            1 => BufferType::HttpResponseBody,
            2 => BufferType::DownstreamData,
            3 => BufferType::UpstreamData,
            4 => BufferType::HttpCallResponseBody,
            5 => BufferType::GrpcCallMessage,
            6 => BufferType::VmConfiguration,
            7 => BufferType::PluginConfiguration,
            8 => BufferType::ForeignFunctionArguments,
            _ => return None,
        })
    }
}

/// `proxy_map_type_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapType {
    HttpRequestHeaders,
    HttpRequestTrailers,
    HttpResponseHeaders,
    HttpResponseTrailers,
    GrpcCallInitialMetadata,
    GrpcCallTrailingMetadata,
    HttpCallResponseHeaders,
    HttpCallResponseTrailers,
}

impl MapType {
    pub fn from_abi(v: u32) -> Option<MapType> {
        Some(match v {
            0 => MapType::HttpRequestHeaders,
            1 => MapType::HttpRequestTrailers,
            2 => MapType::HttpResponseHeaders,
            3 => MapType::HttpResponseTrailers,
            4 => MapType::GrpcCallInitialMetadata,
            5 => MapType::GrpcCallTrailingMetadata,
            6 => MapType::HttpCallResponseHeaders,
            7 => MapType::HttpCallResponseTrailers,
            _ => return None,
        })
    }
}

/// `proxy_stream_type_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamType {
    HttpRequest,
    HttpResponse,
    Downstream,
    Upstream,
}

impl StreamType {
    pub fn from_abi(v: u32) -> Option<StreamType> {
        Some(match v {
            0 => StreamType::HttpRequest,
            1 => StreamType::HttpResponse,
            2 => StreamType::Downstream,
            3 => StreamType::Upstream,
            _ => return None,
        })
    }
}

/// `proxy_metric_type_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
}

impl MetricType {
    pub fn from_abi(v: u32) -> Option<MetricType> {
        Some(match v {
            0 => MetricType::Counter,
            1 => MetricType::Gauge,
            2 => MetricType::Histogram,
            _ => return None,
        })
    }
}

/// One header (or trailer, or metadata) field; values are bytes on the wire.
pub type Field = (String, Vec<u8>);

/// Serialize a map: u32 count, then (u32 key length, u32 value length) per pair, then each key
/// and value followed by a NUL. All integers little-endian.
pub fn serialize_map(fields: &[Field]) -> Vec<u8> {
    let text: usize = fields.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = Vec::with_capacity(4 + fields.len() * 8 + text);
    out.extend_from_slice(&len_u32(fields.len()).to_le_bytes());
    for (k, v) in fields {
        out.extend_from_slice(&len_u32(k.len()).to_le_bytes());
        out.extend_from_slice(&len_u32(v.len()).to_le_bytes());
    }
    for (k, v) in fields {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Why a serialized map from the guest was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct MapFormatError(pub String);

/// Parse a serialized map. An empty input, or a single 0 byte, is the empty map (the spec
/// allows both). Every length is checked against the input, every key must be UTF-8 and each
/// key and value must be followed by its NUL.
pub fn deserialize_map(bytes: &[u8]) -> Result<Vec<Field>, MapFormatError> {
    if bytes.is_empty() || bytes == [0] {
        return Ok(Vec::new());
    }
    let err = |what: &str| MapFormatError(what.to_string());
    let count = read_u32(bytes, 0).ok_or_else(|| err("shorter than its count"))? as usize;
    let table_end = count
        .checked_mul(8)
        .and_then(|n| n.checked_add(4))
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| err("count larger than the map"))?;
    let mut fields = Vec::with_capacity(count);
    let mut p = table_end;
    for i in 0..count {
        let key_len = read_u32(bytes, 4 + i * 8).ok_or_else(|| err("truncated size table"))?;
        let val_len = read_u32(bytes, 8 + i * 8).ok_or_else(|| err("truncated size table"))?;
        let key = take_nul_terminated(bytes, &mut p, key_len as usize)
            .ok_or_else(|| err("key overruns the map or lacks its NUL"))?;
        let value = take_nul_terminated(bytes, &mut p, val_len as usize)
            .ok_or_else(|| err("value overruns the map or lacks its NUL"))?;
        let key = String::from_utf8(key.to_vec()).map_err(|_| err("key is not UTF-8"))?;
        fields.push((key, value.to_vec()));
    }
    if p != bytes.len() {
        return Err(err("bytes after the last value"));
    }
    Ok(fields)
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn take_nul_terminated<'a>(bytes: &'a [u8], p: &mut usize, len: usize) -> Option<&'a [u8]> {
    let end = p.checked_add(len)?;
    let s = bytes.get(*p..end)?;
    if *bytes.get(end)? != 0 {
        return None;
    }
    *p = end + 1;
    Some(s)
}

/// A property path as the SDK sends it: its parts separated by NUL.
pub fn property_path(bytes: &[u8]) -> String {
    bytes
        .split(|&b| b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_round_trips_and_matches_the_spec_example() {
        let map = vec![
            ("a".to_string(), b"1".to_vec()),
            ("b".to_string(), b"22".to_vec()),
        ];
        let bytes = serialize_map(&map);
        let mut expected = vec![2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0];
        expected.extend_from_slice(b"a\x001\x00b\x0022\x00");
        assert_eq!(bytes, expected);
        assert_eq!(deserialize_map(&bytes).unwrap(), map);
    }

    #[test]
    fn empty_maps_in_both_spellings() {
        assert_eq!(deserialize_map(&[]).unwrap(), vec![]);
        assert_eq!(deserialize_map(&[0]).unwrap(), vec![]);
        assert_eq!(deserialize_map(&serialize_map(&[])).unwrap(), vec![]);
    }

    #[test]
    fn malformed_maps_are_refused() {
        let good = serialize_map(&[("k".to_string(), b"v".to_vec())]);
        for cut in 1..good.len() {
            assert!(deserialize_map(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut no_nul = good.clone();
        let last = no_nul.len() - 1;
        no_nul[last] = b'x';
        assert!(deserialize_map(&no_nul).is_err());
        let mut huge = good.clone();
        huge[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(deserialize_map(&huge).is_err());
    }

    #[test]
    fn property_paths_join_with_dots() {
        assert_eq!(property_path(b"request\0path"), "request.path");
        assert_eq!(property_path(b"bedrock_model"), "bedrock_model");
    }
}
