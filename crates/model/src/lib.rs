//! omnivox-model
#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, backend::Backend};
    fn mm<B: Backend>(d: &B::Device) { let a = Tensor::<B, 2>::ones([2, 2], d); let b = a.clone().matmul(a); assert_eq!(b.into_data().to_vec::<f32>().unwrap(), vec![2.0; 4]); }
    #[test] fn nd() { mm::<burn_ndarray::NdArray>(&Default::default()) }
    #[test] fn fx() { mm::<burn_flex::Flex>(&Default::default()) }
}
