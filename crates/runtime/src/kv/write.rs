//! Writing new keys and values into the pool's storage tensors in place.
//!
//! `slice_assign` is in place on ndarray (a uniquely held array) and on
//! CUDA, but burn-flex 0.21 copies the whole destination on every call
//! (its `slice_assign` holds a second reference to the buffer while it
//! asks for mutable storage), which would make every token cost a copy of
//! the entire pool. On flex the rows are therefore copied straight into
//! the uniquely held `f32` buffer; the tensor is reached through `Any`
//! downcasts of the backend primitive, so every other backend (and flex
//! with another dtype or a shared buffer) takes the generic path.

use burn::tensor::{Tensor, TensorPrimitive, backend::Backend};
use std::any::Any;

/// One contiguous run: `len` rows of the source from `src`, written at
/// flat row `dst` of the storage (`block * block_size + offset`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Run {
    pub dst: usize,
    pub src: usize,
    pub len: usize,
}

/// Writes `rows` (`[n, width]`) into `storage` (`[blocks, block_size,
/// width]`) at `runs`.
pub(crate) fn write_runs<B: Backend>(
    storage: Tensor<B, 3>,
    rows: Tensor<B, 2>,
    runs: &[Run],
) -> Tensor<B, 3> {
    let [blocks, bs, width] = storage.dims();
    let storage = match write_flex_in_place::<B>(storage, &rows, runs) {
        Ok(done) => return done,
        Err(untouched) => untouched,
    };
    let mut storage = storage;
    for r in runs {
        let (block, offset) = (r.dst / bs, r.dst % bs);
        debug_assert!(block < blocks && offset + r.len <= bs);
        let ranges = [block..block + 1, offset..offset + r.len, 0..width];
        storage = storage.slice_assign(
            ranges,
            rows.clone()
                .narrow(0, r.src, r.len)
                .reshape([1, r.len, width]),
        );
    }
    storage
}

/// The flex fast path; `Err` gives the storage back untouched when it does
/// not apply.
fn write_flex_in_place<B: Backend>(
    storage: Tensor<B, 3>,
    rows: &Tensor<B, 2>,
    runs: &[Run],
) -> Result<Tensor<B, 3>, Tensor<B, 3>> {
    let width = storage.dims()[2];
    let prim = match storage.into_primitive() {
        TensorPrimitive::Float(p) => p,
        quantized => return Err(Tensor::from_primitive(quantized)),
    };
    let mut any: Box<dyn Any> = Box::new(prim);
    let mut written = false;
    if let Some(flex) = any.downcast_mut::<burn_flex::FlexTensor>() {
        let plain = flex.dtype() == burn::tensor::DType::F32
            && flex.is_contiguous()
            && flex.layout().start_offset() == 0;
        if plain && let Some(buf) = flex.try_storage_mut::<f32>() {
            let data = rows.clone().into_data().convert::<f32>();
            if let Ok(src) = data.as_slice::<f32>() {
                for r in runs {
                    let (d, s) = (r.dst * width, r.src * width);
                    buf[d..d + r.len * width].copy_from_slice(&src[s..s + r.len * width]);
                }
                written = true;
            }
        }
    }
    let prim = *any
        .downcast::<B::FloatTensorPrimitive>()
        .expect("the box holds the backend's own primitive");
    let storage = Tensor::from_primitive(TensorPrimitive::Float(prim));
    if written { Ok(storage) } else { Err(storage) }
}
