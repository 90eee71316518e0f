//! A `VarBuilder`: a prefixed view of a [`TensorSource`] that walks the
//! checkpoint's own key names (`vb.pp("model").pp("layers").pp(3)`) and
//! records every problem instead of failing at the first.

use super::safetensors::StoredDtype;
use super::source::TensorSource;
use crate::error::{Error, Result};
use crate::quant::QuantConfig;
use burn::tensor::{Tensor, TensorData, backend::Backend};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Everything that went wrong while loading, listed at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// The prefix that was loaded (`""` for the whole checkpoint).
    pub prefix: String,
    /// Tensors asked for but absent.
    pub missing: Vec<String>,
    /// Tensors present with another shape: `(name, expected, found)`.
    pub wrong_shape: Vec<(String, Vec<usize>, Vec<usize>)>,
    /// Tensors present under the prefix that nothing read.
    pub unexpected: Vec<String>,
    /// Tensors that could not be read (dtype, I/O), with the reason.
    pub unreadable: Vec<String>,
}

impl LoadReport {
    /// Whether nothing went wrong.
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty()
            && self.wrong_shape.is_empty()
            && self.unexpected.is_empty()
            && self.unreadable.is_empty()
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.prefix.is_empty() {
            "checkpoint".to_string()
        } else {
            format!("`{}`", self.prefix)
        };
        write!(f, "loading {what} failed:")?;
        if !self.missing.is_empty() {
            write!(
                f,
                "\n  {} missing: {}",
                self.missing.len(),
                self.missing.join(", ")
            )?;
        }
        if !self.wrong_shape.is_empty() {
            write!(f, "\n  {} wrong-shaped:", self.wrong_shape.len())?;
            for (n, want, got) in &self.wrong_shape {
                write!(f, " {n} (expected {want:?}, found {got:?});")?;
            }
        }
        if !self.unexpected.is_empty() {
            let n = self.unexpected.len();
            write!(f, "\n  {n} unexpected: {}", self.unexpected.join(", "))?;
        }
        if !self.unreadable.is_empty() {
            let n = self.unreadable.len();
            write!(f, "\n  {n} unreadable: {}", self.unreadable.join("; "))?;
        }
        Ok(())
    }
}

struct State {
    read: BTreeSet<String>,
    ignored_prefixes: Vec<String>,
    report: LoadReport,
}

struct Shared<'a> {
    source: &'a dyn TensorSource,
    state: Mutex<State>,
}

/// A prefixed view of a [`TensorSource`] from which modules build
/// themselves. Cheap to clone; all clones share one record of what was read
/// and what went wrong.
///
/// `get` never fails: a missing, wrong-shaped or unreadable tensor is
/// recorded and a zero tensor of the requested shape stands in, so that
/// construction runs to the end and [`VarBuilder::finish`] can report every
/// problem in one error.
pub struct VarBuilder<'a, B: Backend> {
    shared: Arc<Shared<'a>>,
    prefix: String,
    device: B::Device,
    quant: Arc<QuantConfig>,
}

/// A tensor's stored bytes, from [`VarBuilder::get_raw`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTensor {
    /// The stored dtype.
    pub dtype: StoredDtype,
    /// The stored shape.
    pub shape: Vec<usize>,
    /// The elements, little-endian, as in the file.
    pub bytes: Vec<u8>,
}

impl<B: Backend> Clone for VarBuilder<'_, B> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            prefix: self.prefix.clone(),
            device: self.device.clone(),
            quant: self.quant.clone(),
        }
    }
}

impl<B: Backend> fmt::Debug for VarBuilder<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VarBuilder")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<'a, B: Backend> VarBuilder<'a, B> {
    /// A builder at the root of `source`, creating tensors on `device`.
    pub fn new(source: &'a dyn TensorSource, device: &B::Device) -> Self {
        Self {
            shared: Arc::new(Shared {
                source,
                state: Mutex::new(State {
                    read: BTreeSet::new(),
                    ignored_prefixes: Vec::new(),
                    report: LoadReport::default(),
                }),
            }),
            prefix: String::new(),
            device: device.clone(),
            quant: Arc::new(QuantConfig::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The same view one level down: `vb.pp("model").pp(3)` reads
    /// `model.3.*`.
    pub fn pp(&self, name: impl fmt::Display) -> Self {
        let prefix = if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        };
        Self {
            shared: self.shared.clone(),
            prefix,
            device: self.device.clone(),
            quant: self.quant.clone(),
        }
    }

    /// This view (and every view below it) with linear layers stored as
    /// `config` says — see [`crate::quant`]. The default is
    /// [`Quantization::None`](crate::quant::Quantization::None): dense f32,
    /// the unquantized load exactly.
    pub fn with_quantization(&self, config: QuantConfig) -> Result<Self> {
        config.validate()?;
        let mut vb = self.clone();
        vb.quant = Arc::new(config);
        Ok(vb)
    }

    /// The quantization settings of this view.
    pub fn quant_config(&self) -> &QuantConfig {
        &self.quant
    }

    /// This view's prefix (`""` at the root).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The device tensors are created on.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// The full checkpoint name of `leaf` under this view.
    pub fn name(&self, leaf: &str) -> String {
        if self.prefix.is_empty() {
            leaf.to_string()
        } else {
            format!("{}.{leaf}", self.prefix)
        }
    }

    /// Whether the source has `leaf` under this view (a random source has
    /// everything).
    pub fn contains(&self, leaf: &str) -> bool {
        self.shared.source.shape(&self.name(leaf), &[]).is_some()
    }

    /// Declares every tensor under `leaf_prefix` (relative to this view, e.g.
    /// `"visual"` or `"lm_head.weight"`) as deliberately not loaded:
    /// [`VarBuilder::finish`] will not report it as unexpected.
    pub fn ignore(&self, leaf_prefix: &str) {
        let full = self.name(leaf_prefix);
        self.state().ignored_prefixes.push(full);
    }

    /// Tensor `leaf` with exactly `shape`, as `f32`.
    pub fn get<const D: usize>(&self, shape: [usize; D], leaf: &str) -> Tensor<B, D> {
        self.load(shape, leaf, false)
    }

    /// The stored dtype of `leaf` (`None` when absent or for a made-up
    /// source).
    pub fn stored_dtype(&self, leaf: &str) -> Option<StoredDtype> {
        self.shared.source.dtype(&self.name(leaf))
    }

    /// Tensor `leaf` with exactly `shape` as host `f32` values (row-major),
    /// recorded like [`get`](VarBuilder::get); `None` when it is missing,
    /// wrong-shaped or unreadable (the problem is in the report). For
    /// loaders that transform the values on the host (quantization) instead
    /// of uploading them.
    pub fn get_values<const D: usize>(&self, shape: [usize; D], leaf: &str) -> Option<Vec<f32>> {
        let data = self.load_data(shape, leaf, false)?;
        match data.into_vec::<f32>() {
            Ok(v) => Some(v),
            Err(e) => {
                self.record_unreadable(format!("{}: {e:?}", self.name(leaf)));
                None
            }
        }
    }

    /// Float tensor `leaf` of whatever shape is stored, as host `f32`
    /// values with that shape; recorded as read. `None` when missing or
    /// unreadable (reported).
    pub fn get_vec(&self, leaf: &str) -> Option<(Vec<f32>, Vec<usize>)> {
        let name = self.name(leaf);
        let shape = self.present(&name)?;
        let values = self
            .shared
            .source
            .read_f32(&name, &shape, false)
            .map_err(|e| e.to_string())
            .and_then(|d| d.into_vec::<f32>().map_err(|e| format!("{e:?}")));
        match values {
            Ok(v) => Some((v, shape)),
            Err(e) => {
                self.record_unreadable(format!("{name}: {e}"));
                None
            }
        }
    }

    /// The stored bytes of `leaf` (any dtype), recorded as read. `None`
    /// when missing or unreadable (reported).
    pub fn get_raw(&self, leaf: &str) -> Option<RawTensor> {
        let name = self.name(leaf);
        let shape = self.present(&name)?;
        let source = self.shared.source;
        let Some(dtype) = source.dtype(&name) else {
            self.record_unreadable(format!("{name}: the source has no stored bytes"));
            return None;
        };
        match source.read_raw(&name) {
            Ok(bytes) => Some(RawTensor {
                dtype,
                shape,
                bytes,
            }),
            Err(e) => {
                self.record_unreadable(format!("{name}: {e}"));
                None
            }
        }
    }

    /// The stored shape of `name`, marking it read; `None` (recorded as
    /// missing) when absent.
    fn present(&self, name: &str) -> Option<Vec<usize>> {
        let Some(shape) = self.shared.source.shape(name, &[]) else {
            self.state().report.missing.push(name.to_string());
            return None;
        };
        self.state().read.insert(name.to_string());
        Some(shape)
    }

    /// Records a tensor that was present but could not be used, with the
    /// reason (`"name: reason"`), for [`finish`](VarBuilder::finish).
    pub fn record_unreadable(&self, problem: String) {
        self.state().report.unreadable.push(problem);
    }

    /// A 2-D tensor stored as `[rows, cols]` (e.g. a Hub `Linear` weight
    /// `[out, in]`), returned transposed as `[cols, rows]`. The transpose
    /// happens while converting from the file: there is one copy, not two.
    pub fn get_transposed(&self, stored_shape: [usize; 2], leaf: &str) -> Tensor<B, 2> {
        let t: Tensor<B, 2> = self.load(stored_shape, leaf, true);
        t
    }

    fn load<const D: usize>(&self, shape: [usize; D], leaf: &str, transpose: bool) -> Tensor<B, D> {
        match self.load_data(shape, leaf, transpose) {
            Some(data) => Tensor::from_data(data, &self.device),
            None => {
                let out_shape = if transpose && D == 2 {
                    let mut s = shape;
                    s.swap(0, 1);
                    s
                } else {
                    shape
                };
                Tensor::<B, D>::zeros(out_shape, &self.device)
            }
        }
    }

    /// Reads `leaf` as `f32` data, recording a missing, wrong-shaped or
    /// unreadable tensor (and returning `None`) instead of failing.
    fn load_data<const D: usize>(
        &self,
        shape: [usize; D],
        leaf: &str,
        transpose: bool,
    ) -> Option<TensorData> {
        let name = self.name(leaf);
        let source = self.shared.source;
        let Some(found) = source.shape(&name, &shape) else {
            self.state().report.missing.push(name);
            return None;
        };
        self.state().read.insert(name.clone());
        if found != shape {
            let mut st = self.state();
            st.report.wrong_shape.push((name, shape.to_vec(), found));
            return None;
        }
        match source.read_f32(&name, &shape, transpose) {
            Ok(data) => Some(data),
            Err(e) => {
                self.state().report.unreadable.push(format!("{name}: {e}"));
                None
            }
        }
    }

    /// What has gone wrong so far under this view's prefix, unexpected
    /// tensors included.
    pub fn report(&self) -> LoadReport {
        let st = self.state();
        let under =
            |n: &String| self.prefix.is_empty() || n.starts_with(&format!("{}.", self.prefix));
        let mut report = LoadReport {
            prefix: self.prefix.clone(),
            missing: st
                .report
                .missing
                .iter()
                .filter(|n| under(n))
                .cloned()
                .collect(),
            wrong_shape: (st.report.wrong_shape.iter())
                .filter(|(n, _, _)| under(n))
                .cloned()
                .collect(),
            unexpected: Vec::new(),
            unreadable: st.report.unreadable.clone(),
        };
        let prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}.", self.prefix)
        };
        for name in self.shared.source.names_under(&prefix) {
            let ignored = st
                .ignored_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()));
            if !ignored && !st.read.contains(&name) {
                report.unexpected.push(name);
            }
        }
        report
    }

    /// Ends loading under this view's prefix: one error listing every
    /// missing, wrong-shaped, unreadable and unexpected tensor (present under
    /// the prefix, never read, not [`ignore`](VarBuilder::ignore)d), or `Ok`.
    pub fn finish(&self) -> Result<()> {
        let report = self.report();
        if report.is_ok() {
            Ok(())
        } else {
            Err(Error::Load(report))
        }
    }
}
