#![allow(clippy::unwrap_used, clippy::print_stdout)]
use burn::tensor::Tensor;
use omnivox_codec::Code2Wav;
use omnivox_codec::conv::ConvState;
use omnivox_model::loader::{RandomWeights, VarBuilder};
use std::time::{Duration, Instant};
type B = burn_flex::Flex;
fn sync<const D: usize>(t: &Tensor<B, D>) {
    let _ = t.clone().into_data();
}
fn main() {
    let device = Default::default();
    let cfg = omnivox_codec::config::released();
    let random = RandomWeights::new(0, 0.02);
    let vb = VarBuilder::<B>::new(&random, &device);
    let m = Code2Wav::<B>::load(&vb, &cfg).unwrap();
    let frames: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let push: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let codes: Vec<u32> = (0..frames * 16)
        .map(|i| ((i / 16 * 7919 + i % 16 * 131 + 13) % 2048) as u32)
        .collect();
    let mut cache = m.pre_transformer.new_cache();
    let mut up_st: Vec<_> = m
        .upsample
        .iter()
        .map(|s| (s.conv.new_state(), ConvState::default()))
        .collect();
    let mut din = ConvState::default();
    let mut bst: Vec<_> = m.blocks.iter().map(|b| b.new_state()).collect();
    let mut dout = ConvState::default();
    let mut t = [Duration::ZERO; 8];
    let t0 = Instant::now();
    for chunk in codes.chunks(16 * push) {
        let s = Instant::now();
        let c = m.codes_tensor(chunk, &device).unwrap();
        let h = m.pre_transformer.forward(m.embed(c), &mut cache).unwrap();
        sync(&h);
        t[0] += s.elapsed();
        let s = Instant::now();
        let mut x: Tensor<B, 3> = h.transpose().unsqueeze_dim(0);
        for (st, (a, b)) in m.upsample.iter().zip(up_st.iter_mut()) {
            x = st.convnext.forward(st.conv.forward(x, a).unwrap(), b);
        }
        x = m.decoder_in.forward(x, &mut din);
        sync(&x);
        t[1] += s.elapsed();
        for (i, (b, st)) in m.blocks.iter().zip(bst.iter_mut()).enumerate() {
            let s = Instant::now();
            x = b.forward(x, st).unwrap();
            sync(&x);
            t[2 + i] += s.elapsed();
        }
        let s = Instant::now();
        let w = m.decoder_out.forward(m.decoder_snake.forward(x), &mut dout);
        sync(&w);
        t[6] += s.elapsed();
    }
    println!(
        "push {push}: transformer {:?} upsample+in {:?} blocks {:?} {:?} {:?} {:?} out {:?} total {:?}",
        t[0],
        t[1],
        t[2],
        t[3],
        t[4],
        t[5],
        t[6],
        t0.elapsed()
    );
}
