//! Real data: every extractor on a CIFAR-10 subset gives finite features of the documented
//! dimension (`$WB_DATA_DIR/cifar-10-batches-bin`; run with `cargo test -- --ignored`).

use wb_features::FeatureSpec;

#[test]
#[ignore = "needs CIFAR-10 under WB_DATA_DIR"]
fn every_extractor_gives_finite_features_of_the_documented_dimension() {
    let dir = std::env::var("WB_DATA_DIR").expect("set WB_DATA_DIR to the datasets folder");
    let data =
        wb_data::cifar::load_cifar10(&std::path::Path::new(&dir).join("cifar-10-batches-bin"))
            .expect("CIFAR-10 loads");
    let train = data.train.images.select(&(0..1000).collect::<Vec<_>>());
    let test = data.test.images.select(&(0..200).collect::<Vec<_>>());
    // Documented dimensions for 32x32 RGB images with the default parameters (k-means with
    // K = 100 to keep the test short: 4K values).
    let expected = [
        ("raw", 3072),
        ("color", 10),
        ("hog", 324),
        ("gabor", 320),
        ("kmeans", 400),
    ];
    for (name, dim) in expected {
        let mut spec = FeatureSpec::parse(name).unwrap();
        spec.kmeans.centroids = 100;
        spec.kmeans.patches = 20_000;
        spec.check(train.shape()).unwrap();
        let fitted = spec.fit(&train, 0).unwrap();
        assert_eq!(fitted.dim(), dim, "{name}");
        let x = fitted.transform(&test, &|_| {}).unwrap();
        assert_eq!(x.dim(), (200, dim), "{name}");
        assert!(
            x.iter().all(|v| v.is_finite()),
            "{name}: non-finite feature"
        );
        // Not degenerate: the features vary across images.
        let col_var = x.var_axis(ndarray::Axis(0), 0.0);
        assert!(
            col_var.iter().any(|&v| v > 0.0),
            "{name}: constant features"
        );
    }
    // Composition concatenates in order.
    let spec = FeatureSpec::parse("hog,color").unwrap();
    spec.check(train.shape()).unwrap();
    assert_eq!(spec.fit(&train, 0).unwrap().dim(), 334);
}
