//! A restricted unpickler (pickle protocols 2–5) that never executes code.
//!
//! Python's `pickle.load` calls whatever callable a file names, which is how a dataset file can
//! run `os.system`. This reader instead knows a short list of globals and rebuilds them itself:
//! NumPy arrays (`numpy.core.multiarray._reconstruct`, `numpy.ndarray`, `numpy.dtype`,
//! `_frombuffer`, `scalar`, with the `numpy._core` aliases of NumPy 2), torch tensors
//! (`torch._utils._rebuild_tensor_v2` over typed storages), `collections.OrderedDict`, sets,
//! `_codecs.encode` (how protocol 2 spells `bytes`) and `argparse.Namespace` records (the
//! `settings` entry of `torch.save`d training data), the last rebuilt as plain attribute lists.
//! Any other global is refused at the opcode that names it, and the error names it.
//!
//! Objects live in an arena and are referred to by [`Value::Obj`], so the memo shares them the
//! way Python does (a dtype built once and fetched again keeps its byte order) and nothing is
//! ever copied, including the raw bytes of arrays, which stay ranges of the input.
//! Memory is bounded by the input: every length is checked against the bytes left before
//! anything is allocated, and each opcode adds at most one object.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

/// Why a pickle was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum PickleError {
    #[error(
        "refused to load the global {0:?}: only NumPy arrays, torch tensors and plain containers are rebuilt, \
         and loading this file in Python would run that code"
    )]
    Refused(String),

    #[error("not a valid pickle (byte {offset}): {problem}")]
    Malformed { offset: usize, problem: String },

    #[error("unsupported pickle content (byte {offset}): {problem}")]
    Unsupported { offset: usize, problem: String },
}

/// A value on the unpickler's stack or inside a container: scalars inline, everything else a
/// reference into the arena of [`Unpickled`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Obj(ObjId),
}

/// Index of an object in the arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObjId(usize);

/// Text of a `str`: a range of the input (checked as UTF-8 when read), or decoded from latin-1.
/// Ranges keep the large latin-1 strings that protocol 2 uses for array data out of memory twice.
#[derive(Clone, Debug)]
pub enum Text {
    Input(Range<usize>),
    Owned(String),
}

/// Bytes of a `bytes` object: a range of the input, the latin-1 text protocol 2 writes them as
/// (`_codecs.encode(text, "latin1")`, decoded when read, so gigabytes of array data are not held
/// twice), or decoded from a Python 2 string.
#[derive(Clone, Debug)]
pub enum Bytes {
    Input(Range<usize>),
    /// UTF-8 text in the input whose characters are all ≤ U+00FF; `len` bytes once decoded.
    Latin1 {
        text: Range<usize>,
        len: usize,
    },
    Owned(Vec<u8>),
}

/// Element type of an array or a torch storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    Bool,
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F16,
    BF16,
    F32,
    F64,
}

impl Element {
    pub fn size(self) -> usize {
        match self {
            Self::Bool | Self::U8 | Self::I8 => 1,
            Self::U16 | Self::I16 | Self::F16 | Self::BF16 => 2,
            Self::U32 | Self::I32 | Self::F32 => 4,
            Self::U64 | Self::I64 | Self::F64 => 8,
        }
    }

    /// Parses a NumPy type string such as `f4`, `<i8`, `|b1`, `?`.
    fn from_numpy(descr: &str) -> Option<(Self, Option<bool>)> {
        let (order, code) = match descr.as_bytes().first() {
            Some(b'<') => (Some(false), &descr[1..]),
            Some(b'>') => (Some(true), &descr[1..]),
            Some(b'|' | b'=') => (None, &descr[1..]),
            _ => (None, descr),
        };
        let element = match code {
            "?" | "b1" => Self::Bool,
            "u1" | "B" => Self::U8,
            "i1" | "b" => Self::I8,
            "u2" => Self::U16,
            "i2" => Self::I16,
            "u4" => Self::U32,
            "i4" => Self::I32,
            "u8" => Self::U64,
            "i8" => Self::I64,
            "f2" | "e" => Self::F16,
            "f4" | "f" => Self::F32,
            "f8" | "d" => Self::F64,
            _ => return None,
        };
        Some((element, order))
    }

    fn from_torch_storage(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::F32,
            "DoubleStorage" => Self::F64,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::I64,
            "IntStorage" => Self::I32,
            "ShortStorage" => Self::I16,
            "CharStorage" => Self::I8,
            "ByteStorage" | "UntypedStorage" => Self::U8,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    /// Reads one element from the start of `bytes` as f64 (exact for every type but 64-bit integers).
    fn read_f64(self, bytes: &[u8], big_endian: bool) -> f64 {
        macro_rules! num {
            ($t:ty, $n:expr) => {{
                let mut b = [0u8; $n];
                b.copy_from_slice(&bytes[..$n]);
                (if big_endian { <$t>::from_be_bytes(b) } else { <$t>::from_le_bytes(b) }) as f64
            }};
        }
        match self {
            Self::Bool => f64::from(u8::from(bytes[0] != 0)),
            Self::U8 => f64::from(bytes[0]),
            Self::I8 => f64::from(bytes[0] as i8),
            Self::U16 => num!(u16, 2),
            Self::I16 => num!(i16, 2),
            Self::U32 => num!(u32, 4),
            Self::I32 => num!(i32, 4),
            Self::U64 => num!(u64, 8),
            Self::I64 => num!(i64, 8),
            Self::F16 => f16_to_f32(num!(u16, 2) as u16).into(),
            Self::BF16 => f32::from_bits(u32::from(num!(u16, 2) as u16) << 16).into(),
            Self::F32 => num!(f32, 4),
            Self::F64 => num!(f64, 8),
        }
    }
}

/// IEEE half to single precision (no `half` dependency for one conversion).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exponent = u32::from((h >> 10) & 0x1f);
    let mantissa = u32::from(h & 0x3ff);
    let bits = match (exponent, mantissa) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: renormalise.
            let shift = m.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | ((m << shift) & 0x3ff) << 13
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// Where an array's elements are.
#[derive(Clone, Debug)]
pub enum ArrayData {
    /// A `bytes` object of the pickle, C order (or Fortran order when `fortran`).
    Pickled { bytes: ObjId, fortran: bool },
    /// A torch storage: element offset and strides into it.
    Storage { storage: ObjId, offset: usize, strides: Vec<usize> },
    /// `_reconstruct` made the array; `BUILD` has not filled it yet.
    Pending,
}

/// A NumPy array or torch tensor, not yet read.
#[derive(Clone, Debug)]
pub struct NdArray {
    pub element: Element,
    pub big_endian: bool,
    pub shape: Vec<usize>,
    pub data: ArrayData,
}

impl NdArray {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A torch storage named by a persistent id: its bytes are a separate entry of the archive.
#[derive(Clone, Debug)]
pub struct StorageRef {
    pub element: Element,
    pub key: String,
    pub numel: usize,
}

/// A NumPy dtype under construction.
#[derive(Clone, Copy, Debug)]
pub struct Dtype {
    pub element: Element,
    pub big_endian: bool,
}

/// The globals this reader rebuilds itself; everything else is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    NumpyReconstruct,
    NumpyNdarray,
    NumpyDtype,
    NumpyScalar,
    NumpyFromBuffer,
    TorchRebuildTensorV2,
    TorchStorage(Element),
    OrderedDict,
    Set,
    FrozenSet,
    CodecsEncode,
    Namespace,
}

impl Global {
    fn lookup(module: &str, name: &str) -> Option<Self> {
        let numpy_core = |m: &str, sub: &str| m == format!("numpy.core.{sub}") || m == format!("numpy._core.{sub}");
        Some(match (module, name) {
            (m, "_reconstruct") if numpy_core(m, "multiarray") => Self::NumpyReconstruct,
            (m, "scalar") if numpy_core(m, "multiarray") => Self::NumpyScalar,
            (m, "_frombuffer") if numpy_core(m, "numeric") => Self::NumpyFromBuffer,
            ("numpy", "ndarray") => Self::NumpyNdarray,
            ("numpy", "dtype") => Self::NumpyDtype,
            ("torch._utils", "_rebuild_tensor_v2") => Self::TorchRebuildTensorV2,
            ("torch" | "torch.storage", storage) => Self::TorchStorage(Element::from_torch_storage(storage)?),
            ("collections", "OrderedDict") => Self::OrderedDict,
            ("builtins" | "__builtin__", "set") => Self::Set,
            ("builtins" | "__builtin__", "frozenset") => Self::FrozenSet,
            ("_codecs", "encode") => Self::CodecsEncode,
            ("argparse", "Namespace") => Self::Namespace,
            _ => return None,
        })
    }
}

/// An object in the arena.
#[derive(Clone, Debug)]
pub enum Object {
    Str(Text),
    Bytes(Bytes),
    /// An integer too large for i64 (little-endian two's complement bytes).
    BigInt(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Insertion order kept; a repeated key is overwritten like Python does.
    Dict(Vec<(Value, Value)>),
    Set(Vec<Value>),
    Global(Global),
    Dtype(Dtype),
    Array(NdArray),
    Storage(StorageRef),
    /// An `argparse.Namespace`: its attributes, never an instance of anything.
    Record(Vec<(Value, Value)>),
}

impl Object {
    fn kind(&self) -> &'static str {
        match self {
            Self::Str(_) => "a string",
            Self::Bytes(_) => "bytes",
            Self::BigInt(_) => "a large integer",
            Self::List(_) => "a list",
            Self::Tuple(_) => "a tuple",
            Self::Dict(_) => "a dict",
            Self::Set(_) => "a set",
            Self::Global(_) => "a class or function",
            Self::Dtype(_) => "a NumPy dtype",
            Self::Array(_) => "an array",
            Self::Storage(_) => "a torch storage",
            Self::Record(_) => "a namespace",
        }
    }
}

/// What a pickle's `BINPERSID` opcodes mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersistentIds {
    /// A plain pickle file: persistent ids are an error.
    Refuse,
    /// `data.pkl` of a `torch.save` archive: ids name storages.
    TorchStorages,
}

/// The result of unpickling: the arena and the root value, with accessors for the importers.
#[derive(Debug)]
pub struct Unpickled<'a> {
    input: &'a [u8],
    objects: Vec<Object>,
    root: Value,
}

/// Reads one pickle from the start of `input`; returns it and the number of bytes it took.
pub fn load(input: &[u8], persistent_ids: PersistentIds) -> Result<(Unpickled<'_>, usize), PickleError> {
    let mut machine = Machine {
        input,
        pos: 0,
        objects: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        persistent_ids,
        copied: 0,
    };
    let root = machine.run()?;
    let end = machine.pos;
    Ok((Unpickled { input, objects: machine.objects, root }, end))
}

struct Machine<'a> {
    input: &'a [u8],
    pos: usize,
    objects: Vec<Object>,
    stack: Vec<Value>,
    /// Stack lengths at each MARK.
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    persistent_ids: PersistentIds,
    /// Values copied so far by [`Machine::charge`].
    copied: usize,
}

impl Machine<'_> {
    fn malformed<T>(&self, problem: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError::Malformed { offset: self.pos, problem: problem.into() })
    }

    fn unsupported<T>(&self, problem: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError::Unsupported { offset: self.pos, problem: problem.into() })
    }

    fn take(&mut self, n: usize) -> Result<Range<usize>, PickleError> {
        if n > self.input.len() - self.pos {
            return self.malformed(format!("needs {n} more bytes, only {} left", self.input.len() - self.pos));
        }
        let range = self.pos..self.pos + n;
        self.pos += n;
        Ok(range)
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        let range = self.take(1)?;
        Ok(self.input[range.start])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], PickleError> {
        let range = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.input[range]);
        Ok(out)
    }

    fn length(&mut self, bytes: usize) -> Result<usize, PickleError> {
        let n = match bytes {
            1 => u64::from(self.byte()?),
            4 => u64::from(u32::from_le_bytes(self.array()?)),
            _ => u64::from_le_bytes(self.array()?),
        };
        usize::try_from(n).or_else(|_| self.malformed(format!("length {n} does not fit in memory")))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.input[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return self.malformed("a GLOBAL name has no line end");
        };
        let range = self.take(end + 1)?;
        match std::str::from_utf8(&self.input[range.start..range.end - 1]) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => self.malformed("a GLOBAL name is not UTF-8"),
        }
    }

    fn alloc(&mut self, object: Object) -> Value {
        self.objects.push(object);
        Value::Obj(ObjId(self.objects.len() - 1))
    }

    fn push(&mut self, value: Value) {
        self.stack.push(value);
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        if self.marks.last().is_some_and(|&m| m >= self.stack.len()) {
            return self.malformed("pops past a MARK");
        }
        match self.stack.pop() {
            Some(v) => Ok(v),
            None => self.malformed("pops an empty stack"),
        }
    }

    fn top(&self) -> Result<Value, PickleError> {
        match self.stack.last() {
            Some(&v) => Ok(v),
            None => self.malformed("reads the top of an empty stack"),
        }
    }

    /// Pops everything above the last MARK, and the mark.
    fn pop_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(mark) = self.marks.pop() else {
            return self.malformed("expects a MARK that is not there");
        };
        Ok(self.stack.split_off(mark.min(self.stack.len())))
    }

    fn object(&self, value: Value) -> Option<&Object> {
        match value {
            Value::Obj(ObjId(i)) => self.objects.get(i),
            _ => None,
        }
    }

    fn object_mut(&mut self, value: Value) -> Option<&mut Object> {
        match value {
            Value::Obj(ObjId(i)) => self.objects.get_mut(i),
            _ => None,
        }
    }

    fn describe(&self, value: Value) -> &'static str {
        match value {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Obj(_) => self.object(value).map_or("a missing object", Object::kind),
        }
    }

    fn str_of(&self, value: Value) -> Option<&str> {
        match self.object(value)? {
            Object::Str(text) => text_str(self.input, text),
            _ => None,
        }
    }

    fn items_of(&self, value: Value) -> Option<&[Value]> {
        match self.object(value)? {
            Object::Tuple(items) | Object::List(items) => Some(items),
            _ => None,
        }
    }

    fn usize_of(&self, value: Value) -> Option<usize> {
        match value {
            Value::Int(i) => usize::try_from(i).ok(),
            _ => None,
        }
    }

    fn shape_of(&self, value: Value, what: &str) -> Result<Vec<usize>, PickleError> {
        let Some(items) = self.items_of(value) else {
            return self.malformed(format!("{what} is {}, expected a tuple of sizes", self.describe(value)));
        };
        let mut shape = Vec::with_capacity(items.len());
        for &item in items {
            match self.usize_of(item) {
                Some(n) => shape.push(n),
                None => return self.malformed(format!("{what} holds {}, expected sizes ≥ 0", self.describe(item))),
            }
        }
        Ok(shape)
    }

    fn bytes_len(&self, id: ObjId) -> usize {
        match self.objects.get(id.0) {
            Some(Object::Bytes(Bytes::Input(r))) => r.len(),
            Some(Object::Bytes(Bytes::Latin1 { len, .. })) => *len,
            Some(Object::Bytes(Bytes::Owned(v))) => v.len(),
            _ => 0,
        }
    }

    fn run(&mut self) -> Result<Value, PickleError> {
        loop {
            let op = self.byte()?;
            match op {
                0x80 => {
                    let version = self.byte()?;
                    if !(2..=5).contains(&version) {
                        return self.unsupported(format!("pickle protocol {version}; protocols 2 to 5 are read"));
                    }
                }
                0x95 => {
                    self.take(8)?; // FRAME: a length hint only
                }
                b'.' => return self.pop(),
                b'(' => self.marks.push(self.stack.len()),
                b'0' => {
                    self.pop()?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?;
                    self.push(top);
                }
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'J' => {
                    let v = i32::from_le_bytes(self.array()?);
                    self.push(Value::Int(v.into()));
                }
                b'K' => {
                    let v = self.byte()?;
                    self.push(Value::Int(v.into()));
                }
                b'M' => {
                    let v = u16::from_le_bytes(self.array()?);
                    self.push(Value::Int(v.into()));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a { self.length(1)? } else { self.length(4)? };
                    let range = self.take(n)?;
                    let bytes = &self.input[range];
                    let value = if n <= 8 {
                        let fill = if bytes.last().is_some_and(|&b| b & 0x80 != 0) { 0xff } else { 0 };
                        let mut b = [fill; 8];
                        b[..n].copy_from_slice(bytes);
                        Value::Int(i64::from_le_bytes(b))
                    } else {
                        let big = bytes.to_vec();
                        self.alloc(Object::BigInt(big))
                    };
                    self.push(value);
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.array()?);
                    self.push(Value::Float(v));
                }
                b'T' | b'U' => {
                    // Python 2 `str`: read as latin-1 text.
                    let n = if op == b'U' { self.length(1)? } else { self.length(4)? };
                    let range = self.take(n)?;
                    let text: String = self.input[range].iter().map(|&b| char::from(b)).collect();
                    let v = self.alloc(Object::Str(Text::Owned(text)));
                    self.push(v);
                }
                b'X' | 0x8c | 0x8d => {
                    let n = match op {
                        0x8c => self.length(1)?,
                        b'X' => self.length(4)?,
                        _ => self.length(8)?,
                    };
                    let range = self.take(n)?;
                    if std::str::from_utf8(&self.input[range.clone()]).is_err() {
                        return self.malformed("a string is not valid UTF-8");
                    }
                    let v = self.alloc(Object::Str(Text::Input(range)));
                    self.push(v);
                }
                b'B' | b'C' | 0x8e | 0x96 => {
                    let n = match op {
                        b'C' => self.length(1)?,
                        b'B' => self.length(4)?,
                        _ => self.length(8)?,
                    };
                    let range = self.take(n)?;
                    let v = self.alloc(Object::Bytes(Bytes::Input(range)));
                    self.push(v);
                }
                0x97 | 0x98 => {
                    return self
                        .unsupported("out-of-band buffers (pickle protocol 5 buffer_callback) are not supported");
                }
                b')' => {
                    let v = self.alloc(Object::Tuple(Vec::new()));
                    self.push(v);
                }
                b't' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Object::Tuple(items));
                    self.push(v);
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    let v = self.alloc(Object::Tuple(items));
                    self.push(v);
                }
                b']' => {
                    let v = self.alloc(Object::List(Vec::new()));
                    self.push(v);
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Object::List(items));
                    self.push(v);
                }
                b'a' => {
                    let item = self.pop()?;
                    self.extend_list(vec![item])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.extend_list(items)?;
                }
                b'}' => {
                    let v = self.alloc(Object::Dict(Vec::new()));
                    self.push(v);
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Object::Dict(Vec::new()));
                    self.push(v);
                    self.set_items(&items)?;
                }
                b's' => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.set_items(&[key, value])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(&items)?;
                }
                0x8f => {
                    let v = self.alloc(Object::Set(Vec::new()));
                    self.push(v);
                }
                0x90 => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    match self.object_mut(target) {
                        Some(Object::Set(set)) => set.extend(items),
                        _ => return self.malformed(format!("ADDITEMS on {}", self.describe(target))),
                    }
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    let v = self.alloc(Object::Set(items));
                    self.push(v);
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(&module, &name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(module), Some(name)) = (self.str_of(module), self.str_of(name)) else {
                        return self.malformed("STACK_GLOBAL expects two strings");
                    };
                    let (module, name) = (module.to_owned(), name.to_owned());
                    self.global(&module, &name)?;
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let v = self.call(callable, args)?;
                    self.push(v);
                }
                0x81 => {
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let v = self.new_object(class, args)?;
                    self.push(v);
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let class = self.pop()?;
                    let v = self.new_object(class, args)?;
                    self.push(v);
                }
                b'b' => {
                    let state = self.pop()?;
                    let target = self.top()?;
                    self.build(target, state)?;
                }
                b'q' | b'r' => {
                    let index = if op == b'q' { u32::from(self.byte()?) } else { u32::from_le_bytes(self.array()?) };
                    let top = self.top()?;
                    self.memo.insert(index, top);
                }
                0x94 => {
                    let top = self.top()?;
                    let Ok(index) = u32::try_from(self.memo.len()) else {
                        return self.malformed("memo overflow");
                    };
                    self.memo.insert(index, top);
                }
                b'h' | b'j' => {
                    let index = if op == b'h' { u32::from(self.byte()?) } else { u32::from_le_bytes(self.array()?) };
                    match self.memo.get(&index) {
                        Some(&v) => self.push(v),
                        None => return self.malformed(format!("memo entry {index} was never stored")),
                    }
                }
                b'Q' => {
                    let pid = self.pop()?;
                    let v = self.persistent_load(pid)?;
                    self.push(v);
                }
                b'i' | b'o' => {
                    return self.unsupported("INST/OBJ opcodes instantiate arbitrary classes and are refused");
                }
                0x82..=0x84 => {
                    return self.unsupported("extension-registry opcodes (EXT1/2/4) name code and are refused");
                }
                other => {
                    return self
                        .unsupported(format!("opcode 0x{other:02x} is not part of the pickle protocols read here"));
                }
            }
        }
    }

    fn extend_list(&mut self, items: Vec<Value>) -> Result<(), PickleError> {
        let target = self.top()?;
        match self.object_mut(target) {
            Some(Object::List(list)) => {
                list.extend(items);
                Ok(())
            }
            _ => self.malformed(format!("APPEND to {}", self.describe(target))),
        }
    }

    fn set_items(&mut self, items: &[Value]) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return self.malformed("SETITEMS with an odd number of items");
        }
        let target = self.top()?;
        match self.object_mut(target) {
            // Appended even when the key repeats: lookups search from the end, so the last
            // value wins as in Python, and inserting stays O(1).
            Some(Object::Dict(pairs)) => {
                pairs.extend(items.chunks_exact(2).map(|pair| (pair[0], pair[1])));
                Ok(())
            }
            _ => self.malformed(format!("SETITEM on {}", self.describe(target))),
        }
    }

    /// Counts values copied out of existing objects, so that a small file cannot make the
    /// reader copy a large container over and over (memory bounded by the input size).
    fn charge(&mut self, copied: usize) -> Result<(), PickleError> {
        self.copied = self.copied.saturating_add(copied);
        if self.copied > 4 * self.input.len() + 4096 {
            return self.malformed("rebuilds far more values than the file holds (a pickle bomb?)");
        }
        Ok(())
    }

    fn global(&mut self, module: &str, name: &str) -> Result<(), PickleError> {
        match Global::lookup(module, name) {
            Some(global) => {
                let v = self.alloc(Object::Global(global));
                self.push(v);
                Ok(())
            }
            None => Err(PickleError::Refused(format!("{module}.{name}"))),
        }
    }

    fn global_of(&self, value: Value) -> Option<Global> {
        match self.object(value)? {
            Object::Global(g) => Some(*g),
            _ => None,
        }
    }

    fn call(&mut self, callable: Value, args: Value) -> Result<Value, PickleError> {
        let Some(global) = self.global_of(callable) else {
            return self.malformed(format!("REDUCE calls {}, not a class or function", self.describe(callable)));
        };
        let Some(args) = self.items_of(args).map(<[Value]>::to_vec) else {
            return self.malformed(format!("REDUCE arguments are {}, expected a tuple", self.describe(args)));
        };
        self.charge(args.len())?;
        match (global, args.as_slice()) {
            (Global::NumpyReconstruct, [_, _, _]) => Ok(self.alloc(Object::Array(NdArray {
                element: Element::U8,
                big_endian: false,
                shape: Vec::new(),
                data: ArrayData::Pending,
            }))),
            (Global::NumpyDtype, [descr, ..]) => {
                let Some(descr) = self.str_of(*descr) else {
                    return self.malformed("numpy.dtype expects a type string");
                };
                match Element::from_numpy(descr) {
                    Some((element, order)) => Ok(self.alloc(Object::Dtype(Dtype { element, big_endian: order.unwrap_or(false) }))),
                    None => self.unsupported(format!(
                        "NumPy dtype {descr:?} is not supported (numbers and bools only; object arrays would need code execution)"
                    )),
                }
            }
            (Global::NumpyScalar, [dtype, data]) => {
                let (Some(Object::Dtype(dtype)), Some(Object::Bytes(_))) = (self.object(*dtype), self.object(*data))
                else {
                    return self.malformed("numpy scalar expects a dtype and bytes");
                };
                let dtype = *dtype;
                let Value::Obj(bytes_id) = *data else { return self.malformed("numpy scalar expects bytes") };
                let bytes = self.bytes_slice(bytes_id);
                let bytes = bytes.as_ref();
                if bytes.len() != dtype.element.size() {
                    return self.malformed(format!(
                        "numpy scalar has {} bytes, its dtype needs {}",
                        bytes.len(),
                        dtype.element.size()
                    ));
                }
                let x = dtype.element.read_f64(bytes, dtype.big_endian);
                Ok(match dtype.element {
                    Element::Bool => Value::Bool(x != 0.0),
                    Element::F16 | Element::BF16 | Element::F32 | Element::F64 => Value::Float(x),
                    _ => Value::Int(x as i64),
                })
            }
            (Global::NumpyFromBuffer, [buffer, dtype, shape, order]) => {
                let Some(Object::Dtype(dtype)) = self.object(*dtype) else {
                    return self.malformed("_frombuffer expects a dtype");
                };
                let dtype = *dtype;
                let shape = self.shape_of(*shape, "_frombuffer shape")?;
                let fortran = self.str_of(*order) == Some("F");
                let Value::Obj(bytes) = *buffer else { return self.malformed("_frombuffer expects bytes") };
                if !matches!(self.object(*buffer), Some(Object::Bytes(_))) {
                    return self.malformed(format!("_frombuffer buffer is {}", self.describe(*buffer)));
                }
                self.check_pickled_size(&shape, dtype.element, bytes)?;
                Ok(self.alloc(Object::Array(NdArray {
                    element: dtype.element,
                    big_endian: dtype.big_endian,
                    shape,
                    data: ArrayData::Pickled { bytes, fortran },
                })))
            }
            (Global::TorchRebuildTensorV2, [storage, offset, size, stride, ..]) => {
                let Some(Object::Storage(storage_ref)) = self.object(*storage) else {
                    return self
                        .malformed(format!("_rebuild_tensor_v2 expects a storage, got {}", self.describe(*storage)));
                };
                let (element, numel) = (storage_ref.element, storage_ref.numel);
                let Value::Obj(storage) = *storage else {
                    return self.malformed("_rebuild_tensor_v2 expects a storage");
                };
                let Some(offset) = self.usize_of(*offset) else {
                    return self.malformed("_rebuild_tensor_v2 storage offset is not a size");
                };
                let shape = self.shape_of(*size, "tensor size")?;
                let strides = self.shape_of(*stride, "tensor stride")?;
                if strides.len() != shape.len() {
                    return self.malformed(format!("tensor has {} sizes but {} strides", shape.len(), strides.len()));
                }
                // The furthest element the view touches must lie inside the storage.
                if !shape.contains(&0) {
                    let mut last = Some(offset);
                    for (&n, &s) in shape.iter().zip(&strides) {
                        last = last.and_then(|l| (n - 1).checked_mul(s).and_then(|x| l.checked_add(x)));
                    }
                    if last.is_none_or(|l| l >= numel) {
                        return self.malformed(format!(
                            "tensor view of shape {shape:?} reaches past its storage of {numel} elements"
                        ));
                    }
                }
                Ok(self.alloc(Object::Array(NdArray {
                    element,
                    big_endian: false,
                    shape,
                    data: ArrayData::Storage { storage, offset, strides },
                })))
            }
            (Global::OrderedDict, []) => Ok(self.alloc(Object::Dict(Vec::new()))),
            (Global::OrderedDict, [pairs]) => {
                let items = self.pairs_of(*pairs)?;
                self.charge(items.len())?;
                let v = self.alloc(Object::Dict(Vec::new()));
                self.push(v);
                self.set_items(&items)?;
                self.pop()
            }
            (Global::Set | Global::FrozenSet, []) => Ok(self.alloc(Object::Set(Vec::new()))),
            (Global::Set | Global::FrozenSet, [items]) => {
                let Some(items) = self.items_of(*items).map(<[Value]>::to_vec) else {
                    return self.malformed("set() expects a list");
                };
                self.charge(items.len())?;
                Ok(self.alloc(Object::Set(items)))
            }
            (Global::CodecsEncode, [text, encoding]) => {
                if !matches!(self.str_of(*encoding), Some("latin1" | "latin-1")) {
                    return self
                        .unsupported("_codecs.encode is only read with the latin1 encoding protocol 2 uses for bytes");
                }
                let bytes = match self.object(*text) {
                    Some(Object::Str(Text::Input(range))) => {
                        latin1_len(&self.input[range.clone()]).map(|len| Bytes::Latin1 { text: range.clone(), len })
                    }
                    Some(Object::Str(Text::Owned(string))) => {
                        latin1_len(string.as_bytes()).map(|_| Bytes::Owned(latin1_bytes(string.as_bytes())))
                    }
                    _ => return self.malformed("_codecs.encode expects a string"),
                };
                let Some(bytes) = bytes else {
                    return self.malformed("latin1-encoded bytes hold a character above U+00FF");
                };
                Ok(self.alloc(Object::Bytes(bytes)))
            }
            (global, args) => {
                self.malformed(format!("{global:?} called with {} arguments it does not take", args.len()))
            }
        }
    }

    fn pairs_of(&self, value: Value) -> Result<Vec<Value>, PickleError> {
        let Some(items) = self.items_of(value) else {
            return self.malformed("expected a list of (key, value) pairs");
        };
        let mut out = Vec::with_capacity(items.len() * 2);
        for &item in items {
            match self.items_of(item) {
                Some(&[k, v]) => out.extend([k, v]),
                _ => return self.malformed("expected a (key, value) pair"),
            }
        }
        Ok(out)
    }

    fn new_object(&mut self, class: Value, args: Value) -> Result<Value, PickleError> {
        match self.global_of(class) {
            Some(Global::Namespace) => Ok(self.alloc(Object::Record(Vec::new()))),
            Some(Global::OrderedDict) => Ok(self.alloc(Object::Dict(Vec::new()))),
            Some(Global::Set | Global::FrozenSet) => self.call(class, args),
            Some(other) => self.unsupported(format!("{other:?} cannot be instantiated with NEWOBJ")),
            None => self.malformed(format!("NEWOBJ on {}, not a class", self.describe(class))),
        }
    }

    fn bytes_slice(&self, id: ObjId) -> Cow<'_, [u8]> {
        bytes_of(self.input, self.objects.get(id.0)).unwrap_or_default()
    }

    fn check_pickled_size(&self, shape: &[usize], element: Element, bytes: ObjId) -> Result<(), PickleError> {
        let expected = shape.iter().try_fold(element.size(), |acc, &n| acc.checked_mul(n));
        let found = self.bytes_len(bytes);
        if expected != Some(found) {
            return self.malformed(format!(
                "array of shape {shape:?} and {element:?} elements comes with {found} bytes of data"
            ));
        }
        Ok(())
    }

    fn build(&mut self, target: Value, state: Value) -> Result<(), PickleError> {
        match self.object(target) {
            Some(Object::Array(NdArray { data: ArrayData::Pending, .. })) => {
                // ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata))
                let Some(items) = self.items_of(state).map(<[Value]>::to_vec) else {
                    return self.malformed("array state is not a tuple");
                };
                self.charge(items.len())?;
                let [_version, shape, dtype, fortran, raw] = items.as_slice() else {
                    return self.malformed(format!("array state has {} fields, expected 5", items.len()));
                };
                let shape = self.shape_of(*shape, "array shape")?;
                let Some(Object::Dtype(dtype)) = self.object(*dtype) else {
                    return self.malformed(format!("array dtype is {}", self.describe(*dtype)));
                };
                let dtype = *dtype;
                let fortran = matches!(fortran, Value::Bool(true) | Value::Int(1));
                let (Value::Obj(bytes), Some(Object::Bytes(_))) = (*raw, self.object(*raw)) else {
                    return self.unsupported(format!(
                        "array data is {}, expected raw bytes (object arrays are refused)",
                        self.describe(*raw)
                    ));
                };
                self.check_pickled_size(&shape, dtype.element, bytes)?;
                if let Some(Object::Array(array)) = self.object_mut(target) {
                    *array = NdArray {
                        element: dtype.element,
                        big_endian: dtype.big_endian,
                        shape,
                        data: ArrayData::Pickled { bytes, fortran },
                    };
                }
                Ok(())
            }
            Some(Object::Dtype(_)) => {
                // dtype.__setstate__((version, byteorder, subarray, names, fields, elsize, alignment, flags))
                let order = self.items_of(state).and_then(|items| items.get(1).copied()).and_then(|v| self.str_of(v));
                let big_endian = match order {
                    Some(">") => Some(true),
                    Some("<") => Some(false),
                    Some("|" | "=") => None,
                    _ => return self.malformed("dtype state has no byte order"),
                };
                let has_fields =
                    self.items_of(state).is_some_and(|items| items.get(3).is_some_and(|v| *v != Value::None));
                if has_fields {
                    return self.unsupported("structured NumPy dtypes (with named fields) are not supported");
                }
                if let (Some(big_endian), Some(Object::Dtype(dtype))) = (big_endian, self.object_mut(target)) {
                    dtype.big_endian = big_endian;
                }
                Ok(())
            }
            Some(Object::Record(_)) | Some(Object::Dict(_)) => {
                let Some(Object::Dict(pairs)) = self.object(state) else {
                    return if state == Value::None {
                        Ok(())
                    } else {
                        self.malformed(format!("object state is {}", self.describe(state)))
                    };
                };
                let pairs = pairs.clone();
                self.charge(pairs.len())?;
                if let Some(Object::Record(attributes) | Object::Dict(attributes)) = self.object_mut(target) {
                    attributes.extend(pairs);
                }
                Ok(())
            }
            _ => self.malformed(format!("BUILD on {}", self.describe(target))),
        }
    }

    fn persistent_load(&mut self, pid: Value) -> Result<Value, PickleError> {
        if self.persistent_ids == PersistentIds::Refuse {
            return self.unsupported("persistent ids belong to torch archives, not to plain pickle files");
        }
        // ('storage', storage_type, key, location, numel[, view_metadata])
        let Some(items) = self.items_of(pid).map(<[Value]>::to_vec) else {
            return self.malformed("a persistent id is not a tuple");
        };
        self.charge(items.len())?;
        let [kind, storage_type, key, _location, numel, ..] = items.as_slice() else {
            return self.malformed("a persistent id has fewer than 5 fields");
        };
        if self.str_of(*kind) != Some("storage") {
            return self.unsupported("a persistent id that is not a storage");
        }
        let Some(Global::TorchStorage(element)) = self.global_of(*storage_type) else {
            return self.malformed(format!("a storage type is {}", self.describe(*storage_type)));
        };
        let (Some(key), Some(numel)) = (self.str_of(*key).map(str::to_owned), self.usize_of(*numel)) else {
            return self.malformed("a storage id lacks its key or size");
        };
        Ok(self.alloc(Object::Storage(StorageRef { element, key, numel })))
    }
}

impl<'a> Unpickled<'a> {
    pub fn root(&self) -> Value {
        self.root
    }

    pub fn object(&self, value: Value) -> Option<&Object> {
        match value {
            Value::Obj(ObjId(i)) => self.objects.get(i),
            _ => None,
        }
    }

    /// A short description of a value's type, for error messages.
    pub fn describe(&self, value: Value) -> &'static str {
        match value {
            Value::None => "None",
            Value::Bool(_) => "a bool",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Obj(_) => self.object(value).map_or("a missing object", Object::kind),
        }
    }

    pub fn as_str(&self, value: Value) -> Option<&str> {
        match self.object(value)? {
            Object::Str(text) => text_str(self.input, text),
            _ => None,
        }
    }

    /// Items of a list or tuple.
    pub fn as_items(&self, value: Value) -> Option<&[Value]> {
        match self.object(value)? {
            Object::List(items) | Object::Tuple(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_array(&self, value: Value) -> Option<&NdArray> {
        match self.object(value)? {
            Object::Array(array) if !matches!(array.data, ArrayData::Pending) => Some(array),
            _ => None,
        }
    }

    /// Pairs of a dict or namespace.
    pub fn as_pairs(&self, value: Value) -> Option<&[(Value, Value)]> {
        match self.object(value)? {
            Object::Dict(pairs) | Object::Record(pairs) => Some(pairs),
            _ => None,
        }
    }

    /// `value[key]` for a dict or namespace with string keys.
    pub fn get(&self, value: Value, key: &str) -> Option<Value> {
        self.as_pairs(value)?.iter().rev().find(|(k, _)| self.as_str(*k) == Some(key)).map(|&(_, v)| v)
    }

    /// The string keys of a dict, for "expected one of …" messages.
    pub fn keys(&self, value: Value) -> Vec<&str> {
        self.as_pairs(value)
            .map(|pairs| pairs.iter().filter_map(|(k, _)| self.as_str(*k)).collect())
            .unwrap_or_default()
    }

    /// Every torch storage the pickle names.
    pub fn storages(&self) -> impl Iterator<Item = &StorageRef> {
        self.objects.iter().filter_map(|o| match o {
            Object::Storage(s) => Some(s),
            _ => None,
        })
    }

    /// Calls `f` with every element, in C (row-major) order, converted to f64. `storage_bytes`
    /// gives the raw bytes of a torch storage by key; plain pickles never need it.
    pub fn for_each(
        &self,
        array: &NdArray,
        storage_bytes: &dyn Fn(&str) -> Option<&'a [u8]>,
        mut f: impl FnMut(f64),
    ) -> Result<(), PickleError> {
        let size = array.element.size();
        let bad = |problem: String| Err(PickleError::Malformed { offset: 0, problem });
        let (bytes, offset, strides): (Cow<'_, [u8]>, usize, Vec<usize>) = match &array.data {
            ArrayData::Pending => return bad("an array was created but never filled".to_owned()),
            ArrayData::Pickled { bytes, fortran } => {
                let Some(bytes) = bytes_of(self.input, self.objects.get(bytes.0)) else {
                    return bad("array data is missing".to_owned());
                };
                (bytes, 0, contiguous_strides(&array.shape, *fortran))
            }
            ArrayData::Storage { storage, offset, strides } => {
                let Some(Object::Storage(storage)) = self.objects.get(storage.0) else {
                    return bad("tensor storage is missing".to_owned());
                };
                let Some(bytes) = storage_bytes(&storage.key) else {
                    return bad(format!("tensor storage {:?} is not in the archive", storage.key));
                };
                if storage.numel.checked_mul(size).is_none_or(|n| bytes.len() < n) {
                    return bad(format!(
                        "tensor storage {:?} holds {} bytes, fewer than its {} elements",
                        storage.key,
                        bytes.len(),
                        storage.numel
                    ));
                }
                (Cow::Borrowed(bytes), *offset, strides.clone())
            }
        };
        if array.is_empty() {
            return Ok(());
        }
        // Walk the index space in C order with an odometer; contiguous C arrays take the fast path.
        if offset == 0 && strides == contiguous_strides(&array.shape, false) {
            let needed = array.len() * size;
            let Some(data) = bytes.get(..needed) else { return bad("array data is shorter than its shape".to_owned()) };
            for chunk in data.chunks_exact(size) {
                f(array.element.read_f64(chunk, array.big_endian));
            }
            return Ok(());
        }
        let mut index = vec![0usize; array.shape.len()];
        loop {
            let element = offset + index.iter().zip(&strides).map(|(i, s)| i * s).sum::<usize>();
            let Some(chunk) = bytes.get(element * size..element * size + size) else {
                return bad("array view reaches past its data".to_owned());
            };
            f(array.element.read_f64(chunk, array.big_endian));
            let mut axis = array.shape.len();
            loop {
                if axis == 0 {
                    return Ok(());
                }
                axis -= 1;
                index[axis] += 1;
                if index[axis] < array.shape[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
    }
}

/// The bytes of a `bytes` object, decoding latin-1 text on the way.
fn bytes_of<'t>(input: &'t [u8], object: Option<&'t Object>) -> Option<Cow<'t, [u8]>> {
    match object? {
        Object::Bytes(Bytes::Input(range)) => input.get(range.clone()).map(Cow::Borrowed),
        Object::Bytes(Bytes::Latin1 { text, .. }) => input.get(text.clone()).map(|t| Cow::Owned(latin1_bytes(t))),
        Object::Bytes(Bytes::Owned(v)) => Some(Cow::Borrowed(v)),
        _ => None,
    }
}

/// For UTF-8 text: its length in characters if every one is ≤ U+00FF (no lead byte above 0xC3).
/// One byte pass: protocol 2 stores array data this way, gigabytes of it for MOSEI.
fn latin1_len(utf8: &[u8]) -> Option<usize> {
    let mut len = 0;
    for &b in utf8 {
        if b >= 0xc4 {
            return None;
        }
        len += usize::from(b & 0xc0 != 0x80);
    }
    Some(len)
}

/// The bytes of UTF-8 text whose characters are all ≤ U+00FF (checked by [`latin1_len`]).
fn latin1_bytes(utf8: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(utf8.len());
    let mut lead = 0u8;
    for &b in utf8 {
        if b < 0x80 {
            out.push(b);
        } else if b >= 0xc0 {
            lead = b;
        } else {
            out.push(((lead & 0x03) << 6) | (b & 0x3f));
        }
    }
    out
}

fn text_str<'t>(input: &'t [u8], text: &'t Text) -> Option<&'t str> {
    match text {
        Text::Input(range) => std::str::from_utf8(input.get(range.clone())?).ok(),
        Text::Owned(s) => Some(s),
    }
}

fn contiguous_strides(shape: &[usize], fortran: bool) -> Vec<usize> {
    let mut strides = vec![0; shape.len()];
    let mut step = 1usize;
    let order: Vec<usize> = if fortran { (0..shape.len()).collect() } else { (0..shape.len()).rev().collect() };
    for axis in order {
        strides[axis] = step;
        step = step.saturating_mul(shape[axis]);
    }
    strides
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_converts() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn latin1_text_decodes_to_bytes() {
        let all: String = (0u8..=255).map(char::from).collect();
        assert_eq!(latin1_len(all.as_bytes()), Some(256));
        assert_eq!(latin1_bytes(all.as_bytes()), (0u8..=255).collect::<Vec<_>>());
        assert_eq!(latin1_len("Ā".as_bytes()), None);
    }

    #[test]
    fn plain_containers() {
        // pickle.dumps({'a': [1, 2.5, None], 'b': (True, 'x')}, protocol=2)
        let bytes = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00Neq\x03X\x01\x00\x00\x00bq\x04\x88X\x01\x00\x00\x00xq\x05\x86q\x06u.";
        let (p, end) = load(bytes, PersistentIds::Refuse).unwrap();
        assert_eq!(end, bytes.len());
        let a = p.get(p.root(), "a").unwrap();
        assert_eq!(p.as_items(a).unwrap(), &[Value::Int(1), Value::Float(2.5), Value::None]);
        let b = p.as_items(p.get(p.root(), "b").unwrap()).unwrap();
        assert_eq!(b[0], Value::Bool(true));
        assert_eq!(p.as_str(b[1]), Some("x"));
    }

    #[test]
    fn refuses_unknown_globals() {
        let bytes = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.";
        let err = load(bytes, PersistentIds::Refuse).unwrap_err();
        assert!(matches!(&err, PickleError::Refused(g) if g == "posix.system"), "{err}");
    }

    #[test]
    fn truncated_input_is_malformed_not_a_panic() {
        let bytes = b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00";
        for end in 0..bytes.len() {
            assert!(load(&bytes[..end], PersistentIds::Refuse).is_err());
        }
    }

    #[test]
    fn huge_declared_length_is_rejected_before_allocating() {
        let bytes = b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\x7f.";
        assert!(matches!(load(bytes, PersistentIds::Refuse), Err(PickleError::Malformed { .. })));
    }
}
