#![allow(clippy::unwrap_used, clippy::print_stdout)]
use burn::tensor::Tensor;
use omnivox_codec::Code2Wav;
use omnivox_model::loader::{RandomWeights, VarBuilder};
use std::time::Instant;
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
    let codes: Vec<u32> = (0..frames * 16)
        .map(|i| ((i / 16 * 7919 + i % 16 * 131 + 13) % 2048) as u32)
        .collect();
    for _ in 0..2 {
        let t0 = Instant::now();
        let c = m.codes_tensor(&codes, &device).unwrap();
        let emb = m.embed(c);
        let mut cache = m.pre_transformer.new_cache();
        let h = m.pre_transformer.forward(emb, &mut cache).unwrap();
        sync(&h);
        println!("transformer {:?}", t0.elapsed());
        let mut x: Tensor<B, 3> = h.transpose().unsqueeze_dim(0);
        for s in &m.upsample {
            let t = Instant::now();
            let up = s.conv.forward(x, &mut s.conv.new_state()).unwrap();
            sync(&up);
            let t1 = t.elapsed();
            x = s.convnext.forward(up, &mut Default::default());
            sync(&x);
            println!("upsample convT {:?} convnext {:?}", t1, t.elapsed() - t1);
        }
        let t = Instant::now();
        x = m.decoder_in.forward(x, &mut Default::default());
        sync(&x);
        println!("decoder_in {:?}", t.elapsed());
        for b in &m.blocks {
            let t = Instant::now();
            let mut st = b.upsample.new_state();
            let y = b.upsample.forward(b.snake.forward(x), &mut st).unwrap();
            sync(&y);
            let t1 = t.elapsed();
            let mut y2 = y.clone();
            let mut times = vec![];
            for u in &b.units {
                let tt = Instant::now();
                let a = u.act1.forward(y2.clone());
                sync(&a);
                let ta = tt.elapsed();
                let c1 = u.conv1.forward(a, &mut Default::default());
                sync(&c1);
                let tc1 = tt.elapsed() - ta;
                let a2 = u.act2.forward(c1);
                sync(&a2);
                let c2 = u.conv2.forward(a2, &mut Default::default());
                sync(&c2);
                y2 = c2 + y2;
                sync(&y2);
                times.push((ta, tc1, tt.elapsed()));
            }
            x = y2;
            println!(
                "block dims {:?}: snake+convT {:?}, units {:?}",
                x.dims(),
                t1,
                times
            );
        }
        let t = Instant::now();
        let w = m
            .decoder_out
            .forward(m.decoder_snake.forward(x), &mut Default::default());
        sync(&w);
        println!("out {:?}; total {:?}", t.elapsed(), t0.elapsed());
    }
}
