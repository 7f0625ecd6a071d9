//! Image folders written by the tests: every layout, the odd image formats a photo collection
//! holds, stray files, links, broken and hostile files, and the split functions.

use std::io::Write;
use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use wb_data::folder::{
    working_size, FolderLayout, FolderParams, LoadProgress, LoadStage, SizeRule, DEFAULT_IMAGE_SIDE,
};
use wb_data::{load_image, DataError, ImageShape, ResizeMode};

/// A photo-like image: a smooth gradient tinted by `tint`, with a bright square off centre so
/// crops and rotations are visible.
fn scene(w: u32, h: u32, tint: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let gx = (x * 255 / w.max(1)) as u8;
        let gy = (y * 255 / h.max(1)) as u8;
        if x > w / 2 && x < w / 2 + w / 5 && y > h / 3 && y < h / 3 + h / 5 {
            Rgb([250, 250, 250])
        } else {
            Rgb([gx / 2 + tint / 2, gy / 2, tint])
        }
    })
}

fn mkdir(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path).unwrap();
    path.to_path_buf()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .unwrap();
}

fn save_png(path: &Path, img: &RgbImage) {
    img.save_with_format(path, image::ImageFormat::Png).unwrap();
}

/// JPEG bytes at quality 90 (4:2:0), optionally with an EXIF APP1 segment.
fn jpeg_bytes(img: &RgbImage, exif_orientation: Option<u16>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
    if let Some(orientation) = exif_orientation {
        enc.add_app_segment(1, &exif_segment(orientation)).unwrap();
    }
    enc.encode(
        img.as_raw(),
        img.width() as u16,
        img.height() as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .unwrap();
    out
}

fn save_jpeg(path: &Path, img: &RgbImage) {
    write(path, &jpeg_bytes(img, None));
}

/// An EXIF APP1 payload holding one tag, Orientation (0x0112) = `value`: "Exif\0\0", then a
/// little-endian TIFF header and a one-entry IFD.
fn exif_segment(value: u16) -> Vec<u8> {
    let mut b = b"Exif\0\0".to_vec();
    b.extend_from_slice(b"II");
    b.extend_from_slice(&42u16.to_le_bytes());
    b.extend_from_slice(&8u32.to_le_bytes()); // IFD offset
    b.extend_from_slice(&1u16.to_le_bytes()); // entries
    b.extend_from_slice(&0x0112u16.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes()); // SHORT
    b.extend_from_slice(&1u32.to_le_bytes()); // count
    b.extend_from_slice(&value.to_le_bytes());
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
    b
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG file whose header announces a `w` x `h` RGB image, followed by a token IDAT chunk
/// and IEND: a small file that a decoder trusting its header would allocate w*h*3 bytes for.
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (&b"IHDR"[..], &ihdr[..]),
        (b"IDAT", &[0x78, 0x9c]),
        (b"IEND", &[]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        b.extend_from_slice(&(data.len() as u32).to_be_bytes());
        b.extend_from_slice(&chunk);
        b.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    b
}

/// A palette PNG whose every pixel is palette entry 1 (`colour`).
fn save_palette_png(path: &Path, w: u32, h: u32, colour: [u8; 3]) {
    let file = std::fs::File::create(path).unwrap();
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Indexed);
    enc.set_depth(png::BitDepth::Eight);
    let mut palette = vec![0, 0, 0];
    palette.extend_from_slice(&colour);
    enc.set_palette(palette);
    let mut writer = enc.write_header().unwrap();
    writer
        .write_image_data(&vec![1u8; (w * h) as usize])
        .unwrap();
}

fn message(e: DataError) -> String {
    e.to_string()
}

fn params() -> FolderParams {
    FolderParams::default()
}

/// Pixel (y, x, c) of image `i` of a batch.
fn px(images: &wb_data::Images, i: usize, y: usize, x: usize, c: usize) -> u8 {
    images.get(i).get(y, x, c)
}

/// `ROOT/<class>/*` with PNG and JPEG files of mixed sizes and aspect ratios, extensions in
/// several cases, stray files: the class-folder layout, a seeded 20% test carve, 64x64.
#[test]
fn class_folders_carve_a_seeded_test_split_and_skip_stray_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let cat = mkdir(&root.join("cat"));
    let dog = mkdir(&root.join("dog"));
    let sizes = [(120, 80), (80, 120), (200, 150), (64, 64), (333, 100)];
    for (i, &(w, h)) in sizes.iter().enumerate() {
        save_png(&cat.join(format!("c{i}.png")), &scene(w, h, 30));
        save_jpeg(&dog.join(format!("d{i}.JPG")), &scene(w, h, 220));
    }
    save_jpeg(&dog.join("d5.jpeg"), &scene(90, 60, 200));
    write(&cat.join(".DS_Store"), b"\0\0\0\x01Bud1");
    write(&dog.join("Thumbs.db"), b"junk");
    write(&cat.join("notes.txt"), b"taken in 2019");
    write(&dog.join("features.cache"), b"cached");
    write(&root.join("README.md"), b"my photos"); // beside the classes: not counted

    let loaded = wb_data::folder::load_folder(root, &params()).unwrap();
    assert_eq!(loaded.layout, FolderLayout::ClassFolders);
    assert!(loaded.layout.validation_from_train() && loaded.layout.test_carved());
    let data = &loaded.data;
    assert_eq!(data.train.class_names, vec!["cat", "dog"]);
    // 11 images: round(0.2 * 11) = 2 test images, one per class.
    assert_eq!((data.train.len(), data.test.len()), (9, 2));
    assert_eq!(data.test.class_counts(), vec![1, 1]);
    assert!(loaded.val.is_none());
    assert_eq!(
        (loaded.size.height, loaded.size.width, loaded.size.channels),
        (64, 64, 3)
    );
    assert_eq!(loaded.size.rule, SizeRule::Default);
    assert_eq!(
        loaded.warnings,
        vec!["skipped 4 file(s) that are not images: 1 *.cache, 1 *.txt, 1 .DS_Store, 1 Thumbs.db"]
    );
    assert_eq!(loaded.stats.images, 11);
    assert!(loaded.stats.images_per_second() > 0.0);

    let again = wb_data::folder::load_folder(root, &params()).unwrap();
    assert_eq!(again.data.test.images, data.test.images);
    assert_eq!(again.data.train.labels, data.train.labels);
    // Another seed holds out other images (6 cat and 5 dog files: many possible pairs).
    let differ = (1..20).any(|seed| {
        let other = wb_data::folder::load_folder(root, &FolderParams { seed, ..params() });
        other.unwrap().data.test.images != data.test.images
    });
    assert!(differ, "the seed chooses the test images");
}

/// `ROOT/{Training,TESTING}/<class>/*`: aliases in any case; a class with no test images is a
/// warning, a class only in the test folder an error naming it.
#[test]
fn train_test_folders_with_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for class in ["ant", "bee", "wasp"] {
        let d = mkdir(&root.join("Training").join(class));
        for i in 0..3 {
            save_png(&d.join(format!("{i}.png")), &scene(50 + i * 10, 40, 9));
        }
    }
    for class in ["ant", "bee"] {
        let d = mkdir(&root.join("TESTING").join(class));
        save_jpeg(&d.join("t.jpg"), &scene(70, 50, 100));
    }
    let loaded = wb_data::folder::load_folder(root, &params()).unwrap();
    assert_eq!(
        loaded.layout,
        FolderLayout::TrainTest {
            train: "Training".into(),
            test: "TESTING".into()
        }
    );
    assert_eq!(loaded.data.train.class_names, vec!["ant", "bee", "wasp"]);
    assert_eq!((loaded.data.train.len(), loaded.data.test.len()), (9, 2));
    assert_eq!(loaded.data.test.class_counts(), vec![1, 1, 0]);
    let testing = root.join("TESTING");
    assert_eq!(
        loaded.warnings,
        vec![format!(
            "{}: no test images for class(es) wasp",
            testing.display()
        )]
    );
    assert!(loaded
        .layout
        .description()
        .contains("test split from TESTING/"));

    // A test folder whose class folders are all empty is an error, not an empty test split.
    let empty = tempfile::tempdir().unwrap();
    let d = mkdir(&empty.path().join("train").join("x"));
    save_png(&d.join("1.png"), &scene(8, 8, 1));
    mkdir(&empty.path().join("test").join("x"));
    let err = message(wb_data::folder::load_folder(empty.path(), &params()).unwrap_err());
    assert!(
        err.contains("holds no test images in its class folders"),
        "{err}"
    );

    let moth = mkdir(&testing.join("moth"));
    save_png(&moth.join("m.png"), &scene(30, 30, 1));
    let err = message(wb_data::folder::load_folder(root, &params()).unwrap_err());
    assert!(
        err.contains("moth") && err.contains("every class needs training images"),
        "{err}"
    );
}

/// `ROOT/{train,val}/<class>/*` without `test/`: `val/` is the test split (ImageFolder /
/// ImageNet), validation is to be carved from train/.
#[test]
fn train_val_folders_make_val_the_test_split() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (split, n) in [("train", 4), ("val", 2)] {
        for class in ["roses", "tulips"] {
            let d = mkdir(&root.join(split).join(class));
            for i in 0..n {
                save_jpeg(&d.join(format!("{i}.jpg")), &scene(500, 375, 40 * i as u8));
            }
        }
    }
    let loaded = wb_data::folder::load_folder(root, &params()).unwrap();
    assert_eq!(
        loaded.layout,
        FolderLayout::TrainValAsTest {
            train: "train".into(),
            val: "val".into()
        }
    );
    assert!(loaded.layout.validation_from_train());
    assert!(!loaded.layout.test_carved());
    assert!(
        loaded
            .layout
            .description()
            .contains("val/ is the test split (the ImageFolder/ImageNet convention); validation carved from train/"),
        "{}",
        loaded.layout
    );
    assert!(loaded.val.is_none());
    assert_eq!((loaded.data.train.len(), loaded.data.test.len()), (8, 4));
    assert_eq!(loaded.data.test.class_counts(), vec![2, 2]);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

/// `ROOT/{train,Valid,test}`: a validation split of its own.
#[test]
fn train_val_test_folders_give_three_splits() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (split, n) in [("train", 3), ("Valid", 2), ("test", 1)] {
        for class in ["a", "b"] {
            let d = mkdir(&root.join(split).join(class));
            for i in 0..n {
                save_png(&d.join(format!("{i}.png")), &scene(20, 20, 7));
            }
        }
    }
    let loaded = wb_data::folder::load_folder(root, &params()).unwrap();
    assert_eq!(
        loaded.layout,
        FolderLayout::TrainValTest {
            train: "train".into(),
            val: "Valid".into(),
            test: "test".into()
        }
    );
    assert!(!loaded.layout.validation_from_train());
    let val = loaded.val.expect("validation split");
    assert_eq!(
        (loaded.data.train.len(), val.len(), loaded.data.test.len()),
        (6, 4, 2)
    );
    assert_eq!(val.class_counts(), vec![2, 2]);
    // Every image is 20x20: kept as is.
    assert_eq!(loaded.size.rule, SizeRule::Uniform);
    assert_eq!((loaded.size.height, loaded.size.width), (20, 20));
}

#[test]
fn layout_errors_name_the_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    mkdir(&root.join("train").join("x"));
    mkdir(&root.join("Training").join("x"));
    let err = message(wb_data::folder::load_folder(root, &params()).unwrap_err());
    assert!(
        err.contains("2 training folders") && err.contains("Training/") && err.contains("train/"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let d = mkdir(&dir.path().join("val").join("x"));
    save_png(&d.join("1.png"), &scene(8, 8, 1));
    let err = message(wb_data::folder::load_folder(dir.path(), &params()).unwrap_err());
    assert!(err.contains("val/ but no training folder"), "{err}");

    // Folders beside the split folders are named in a warning; images outside class folders
    // too.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for split in ["train", "test"] {
        for class in ["x", "y"] {
            let d = mkdir(&root.join(split).join(class));
            save_png(&d.join("1.png"), &scene(8, 8, 1));
        }
    }
    mkdir(&root.join("extras"));
    save_png(&root.join("train").join("stray.png"), &scene(8, 8, 1));
    let loaded = wb_data::folder::load_folder(root, &params()).unwrap();
    assert!(
        loaded.warnings[0].contains("ignored folder(s) extras beside the split folders"),
        "{:?}",
        loaded.warnings
    );
    assert!(
        loaded.warnings[1].contains("ignored 1 image file(s) outside the class folders"),
        "{:?}",
        loaded.warnings
    );
}

/// A flat folder with labels files: quoting, any column order, paths relative to the file.
#[test]
fn labels_files_for_flat_folders() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let photos = mkdir(&root.join("photos"));
    let names = ["a 1.png", "b, 2.png", "c.png", "d.png", "e.png", "f.png"];
    for (i, name) in names.iter().enumerate() {
        save_png(&photos.join(name), &scene(30 + i as u32, 20, 10 * i as u8));
    }
    let labels = root.join("labels.csv");
    write(
        &labels,
        "\u{feff}label,path\n\"big \"\"cat\"\"\",photos/a 1.png\n\
         dog,\"photos/b, 2.png\"\n\ndog,photos/c.png\n\"big \"\"cat\"\"\",photos/d.png\n"
            .as_bytes(),
    );
    let test_labels = root.join("test.csv");
    write(
        &test_labels,
        b"path,label,notes\nphotos/e.png,dog,blurry\nphotos/f.png,dog,\n",
    );
    let loaded = wb_data::folder::load_folder(
        root,
        &FolderParams {
            labels: Some(labels.clone()),
            test_labels: Some(test_labels.clone()),
            ..params()
        },
    )
    .unwrap();
    assert_eq!(loaded.layout.name(), "labels-csv");
    assert_eq!(loaded.data.train.class_names, vec!["big \"cat\"", "dog"]);
    assert_eq!(loaded.data.train.class_counts(), vec![2, 2]);
    assert_eq!(loaded.data.test.class_counts(), vec![0, 2]);
    assert_eq!(
        loaded.warnings,
        vec![format!(
            "{}: no test images for class(es) big \"cat\"",
            test_labels.display()
        )]
    );

    // Without a test file the test split is carved: 4 rows, one test image per class.
    let carved = wb_data::folder::load_folder(
        root,
        &FolderParams {
            labels: Some(labels.clone()),
            test_fraction: 0.5,
            ..params()
        },
    )
    .unwrap();
    assert!(carved.layout.test_carved());
    assert_eq!(carved.data.test.class_counts(), vec![1, 1]);

    let with = |text: &str| {
        write(&test_labels, text.as_bytes());
        message(
            wb_data::folder::load_folder(
                root,
                &FolderParams {
                    labels: Some(labels.clone()),
                    test_labels: Some(test_labels.clone()),
                    ..params()
                },
            )
            .unwrap_err(),
        )
    };
    let err = with("file,class\nphotos/e.png,dog\n");
    assert!(
        err.contains("test.csv") && err.contains("must name the columns `path` and `label`"),
        "{err}"
    );
    let err = with("path,label\nphotos/e.png,dog\nphotos/missing.png,dog\n");
    assert!(
        err.contains("line 3") && err.contains("missing.png: not found"),
        "{err}"
    );
    let err = with("path,label\nphotos/e.png,bird\n");
    assert!(err.contains("class `bird` has no training images"), "{err}");
    let err = with("path,label\nphotos/c.png,dog\n");
    assert!(err.contains("also a training image"), "{err}");
    let err = with("path,label\nphotos/e.png,dog\nphotos/e.png,dog\n");
    assert!(err.contains("listed again (first on line 2)"), "{err}");
}

/// Gray, palette, 16-bit, RGBA and CMYK files become RGB; a folder of gray images stays gray.
#[test]
fn every_colour_type_becomes_rgb_or_stays_gray() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mixed = mkdir(&root.join("mixed"));
    let other = mkdir(&root.join("other"));
    image::GrayImage::from_pixel(16, 16, image::Luma([90]))
        .save(mixed.join("gray.png"))
        .unwrap();
    save_palette_png(&mixed.join("palette.png"), 16, 16, [255, 0, 0]);
    image::ImageBuffer::<Rgb<u16>, Vec<u16>>::from_pixel(16, 16, Rgb([0x8080, 0xffff, 0]))
        .save(mixed.join("deep.png"))
        .unwrap();
    image::RgbaImage::from_pixel(16, 16, image::Rgba([10, 20, 30, 0]))
        .save(mixed.join("alpha.png"))
        .unwrap();
    // CMYK (0, 255, 255, 0) is red; jpeg-encoder writes Adobe (inverted) CMYK as Photoshop does.
    let mut cmyk = Vec::new();
    jpeg_encoder::Encoder::new(&mut cmyk, 95)
        .encode(
            &[0u8, 255, 255, 0].repeat(16 * 16),
            16,
            16,
            jpeg_encoder::ColorType::Cmyk,
        )
        .unwrap();
    write(&other.join("cmyk.jpg"), &cmyk);
    save_png(&other.join("rgb.png"), &scene(16, 16, 5));

    let loaded = wb_data::folder::load_folder(
        root,
        &FolderParams {
            test_fraction: 0.1,
            ..params()
        },
    )
    .unwrap();
    assert_eq!(loaded.size.rule, SizeRule::Uniform);
    assert_eq!(loaded.size.channels, 3);
    // Every image at 16x16, one split: gather train and test by file order.
    let mut all = loaded.data.train.clone();
    all.images.extend(&loaded.data.test.images);
    all.labels.extend(&loaded.data.test.labels);
    let colours: Vec<[u8; 3]> = (0..all.len())
        .map(|i| [0, 1, 2].map(|c| px(&all.images, i, 8, 8, c)))
        .collect();
    let expect = [
        [10, 20, 30],  // alpha dropped, RGB kept
        [128, 255, 0], // 16-bit scaled to 8 bits
        [90, 90, 90],  // gray replicated
        [255, 0, 0],   // palette expanded
    ];
    for want in expect {
        assert!(colours.contains(&want), "{want:?} not in {colours:?}");
    }
    let red = colours
        .iter()
        .find(|c| c[0] > 200 && c[1] < 60 && c[2] < 60);
    assert!(red.is_some(), "CMYK red decoded as {colours:?}");

    let gray_dir = tempfile::tempdir().unwrap();
    for class in ["p", "q"] {
        let d = mkdir(&gray_dir.path().join(class));
        for i in 0..2 {
            image::GrayImage::from_pixel(40 + i, 30, image::Luma([60 + i as u8]))
                .save(d.join(format!("{i}.png")))
                .unwrap();
        }
    }
    let gray = wb_data::folder::load_folder(gray_dir.path(), &params()).unwrap();
    assert_eq!(gray.size.channels, 1);
    assert_eq!(gray.data.train.images.shape(), ImageShape::new(64, 64, 1));
}

/// A JPEG stored 40 wide x 20 high whose EXIF says "rotate 90° clockwise" is displayed 20 wide
/// x 40 high with its left (dark) half on top.
#[test]
fn exif_orientation_is_applied() {
    let stored = RgbImage::from_fn(40, 20, |x, _| {
        if x < 20 {
            Rgb([0, 0, 0])
        } else {
            Rgb([255, 255, 255])
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for class in ["l", "r"] {
        let d = mkdir(&root.join(class));
        for i in 0..2 {
            write(&d.join(format!("{i}.jpg")), &jpeg_bytes(&stored, Some(6)));
        }
    }
    let loaded = wb_data::folder::load_folder(root, &params()).unwrap();
    // The uniform-size rule sees the displayed size.
    assert_eq!(loaded.size.rule, SizeRule::Uniform);
    assert_eq!((loaded.size.height, loaded.size.width), (40, 20));
    let img = &loaded.data.train.images;
    assert!(px(img, 0, 5, 10, 0) < 30, "top is the stored left half");
    assert!(
        px(img, 0, 35, 10, 0) > 225,
        "bottom is the stored right half"
    );

    // The same through `load_image` at another size (resize before orienting).
    let file = root.join("l").join("0.jpg");
    let pixels = load_image(&file, ImageShape::new(8, 4, 3), ResizeMode::Stretch).unwrap();
    assert!(pixels[(4 + 1) * 3] < 30, "row 1 dark");
    assert!(pixels[(4 * 6 + 1) * 3] > 225, "row 6 bright");
}

#[test]
fn resize_modes_crop_pad_and_stretch() {
    // 32 wide x 16 high: red outer quarters, blue middle half.
    let img = RgbImage::from_fn(32, 16, |x, _| {
        if (8..24).contains(&x) {
            Rgb([0, 0, 255])
        } else {
            Rgb([255, 0, 0])
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wide.png");
    save_png(&file, &img);
    let shape = ImageShape::new(8, 8, 3);
    let at = |p: &[u8], y: usize, x: usize| [p[(y * 8 + x) * 3], p[(y * 8 + x) * 3 + 2]];
    // Crop = resize the shorter side to 8 (16x8), keep the centre 8 columns: the blue half.
    // The filter reaches one source pixel past the crop, as resizing before cropping does, so
    // the outermost columns mix in a little red.
    let crop = load_image(&file, shape, ResizeMode::Crop).unwrap();
    for x in 1..7 {
        assert_eq!(
            at(&crop, 4, x),
            [0, 255],
            "crop keeps the blue centre (x={x})"
        );
    }
    for x in [0, 7] {
        let [r, b] = at(&crop, 4, x);
        assert!(r < 64 && b > 191, "x={x}: {r} {b}");
    }
    // Pad = the whole image at 8x4, centred on black rows.
    let pad = load_image(&file, shape, ResizeMode::Pad).unwrap();
    for y in [0, 1, 6, 7] {
        assert_eq!(at(&pad, y, 4), [0, 0], "pad: black row {y}");
    }
    assert!(at(&pad, 3, 0)[0] > 191, "pad: the red edge is kept");
    assert!(at(&pad, 3, 4)[1] > 191, "pad: blue middle");
    // Stretch = the whole image squeezed to 8x8: red edges, no border.
    let stretch = load_image(&file, shape, ResizeMode::Stretch).unwrap();
    assert!(at(&stretch, 0, 0)[0] > 191, "stretch: red edge");
    assert!(at(&stretch, 7, 7)[0] > 191, "stretch: red edge");
    assert_eq!(at(&stretch, 0, 4), [0, 255]);
}

/// A truncated JPEG is an error naming the file, or is skipped and counted.
#[test]
fn truncated_and_hostile_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for class in ["a", "b"] {
        let d = mkdir(&root.join(class));
        for i in 0..3 {
            save_jpeg(&d.join(format!("{i}.jpg")), &scene(120, 90, 50));
        }
    }
    let whole = jpeg_bytes(&scene(120, 90, 50), None);
    let cut = root.join("b").join("cut.jpg");
    write(&cut, &whole[..whole.len() / 2]);
    let err = message(wb_data::folder::load_folder(root, &params()).unwrap_err());
    assert!(
        err.contains("cut.jpg") && err.contains("cannot decode") && err.contains("truncated JPEG"),
        "{err}"
    );
    let skipped = wb_data::folder::load_folder(
        root,
        &FolderParams {
            skip_bad_images: true,
            ..params()
        },
    )
    .unwrap();
    assert_eq!(skipped.stats.images, 6);
    assert_eq!(skipped.stats.skipped, 1);
    assert_eq!(skipped.warnings.len(), 1);
    assert!(
        skipped.warnings[0]
            .starts_with("skipped 1 undecodable image(s) (skip_bad_images), the first: ")
            && skipped.warnings[0].contains("cut.jpg"),
        "{:?}",
        skipped.warnings
    );
    std::fs::remove_file(&cut).unwrap();

    // A truncated PNG: the PNG decoder reports the missing data itself.
    let mut png = Vec::new();
    scene(120, 90, 50)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let cut_png = root.join("a").join("cut.png");
    write(&cut_png, &png[..png.len() * 2 / 3]);
    let err = message(wb_data::folder::load_folder(root, &params()).unwrap_err());
    assert!(
        err.contains("cut.png") && err.contains("cannot decode"),
        "{err}"
    );
    std::fs::remove_file(&cut_png).unwrap();

    // A header promising 100000 x 100000 pixels is refused before any allocation.
    let huge = root.join("a").join("huge.png");
    write(&huge, &png_header_only(100_000, 100_000));
    let err = message(wb_data::folder::load_folder(root, &params()).unwrap_err());
    assert!(
        err.contains("huge.png") && err.contains("100000x100000") && err.contains("over the limit"),
        "{err}"
    );
    std::fs::remove_file(&huge).unwrap();

    // Text with an image extension.
    write(&root.join("a").join("fake.png"), b"this is not a png");
    let err = message(wb_data::folder::load_folder(root, &params()).unwrap_err());
    assert!(
        err.contains("fake.png") && err.contains("cannot decode"),
        "{err}"
    );
}

/// Linked files and folders are read; a link loop is cut and reported.
#[cfg(unix)]
#[test]
fn symbolic_links_are_followed_and_loops_cut() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = mkdir(&dir.path().join("elsewhere"));
    for i in 0..2 {
        save_png(&elsewhere.join(format!("{i}.png")), &scene(30, 30, 3));
    }
    let root = mkdir(&dir.path().join("root"));
    let a = mkdir(&root.join("a"));
    save_png(&a.join("own.png"), &scene(30, 30, 90));
    symlink(elsewhere.join("0.png"), a.join("linked.png")).unwrap();
    symlink(&elsewhere, root.join("b")).unwrap(); // a class folder that is a link
    symlink(&a, a.join("loop")).unwrap(); // a/loop -> a
    symlink(dir.path().join("gone.png"), a.join("broken.png")).unwrap();
    let loaded = wb_data::folder::load_folder(&root, &params()).unwrap();
    assert_eq!(loaded.data.train.class_names, vec!["a", "b"]);
    assert_eq!(loaded.stats.images, 4);
    assert_eq!(loaded.warnings.len(), 2, "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[0].starts_with("skipped 1 broken symbolic link(s), e.g. ")
            && loaded.warnings[0].contains("broken.png"),
        "{:?}",
        loaded.warnings
    );
    assert!(
        loaded.warnings[1].starts_with("skipped 1 folder link(s) to a folder already read")
            && loaded.warnings[1].contains("loop"),
        "{:?}",
        loaded.warnings
    );
}

#[test]
fn parameters_are_checked_once_with_clear_errors() {
    let check = |p: FolderParams| message(p.check().unwrap_err());
    for f in [0.0, 1.0, -0.1, f64::NAN] {
        let err = check(FolderParams {
            test_fraction: f,
            ..params()
        });
        assert!(
            err.contains("test fraction") && err.contains("between 0 and 1"),
            "{err}"
        );
    }
    for size in [(0, 64), (64, 0), (100_000, 100_000), (4097, 10)] {
        let err = check(FolderParams {
            image_size: Some(size),
            ..params()
        });
        assert!(
            err.contains("image size") && err.contains("between 1 and 4096"),
            "{err}"
        );
    }
    let err = check(FolderParams {
        test_labels: Some("t.csv".into()),
        ..params()
    });
    assert!(err.contains("needs a labels file"), "{err}");
    assert!(FolderParams {
        image_size: Some((4096, 4096)),
        ..params()
    }
    .check()
    .is_ok());
}

#[test]
fn the_working_size_rule() {
    let explicit = working_size(Some((48, 40)), &[(10, 10)]);
    assert_eq!(
        (explicit.height, explicit.width, explicit.rule),
        (48, 40, SizeRule::Explicit)
    );
    let uniform = working_size(None, &[(32, 28); 5]);
    assert_eq!(
        (uniform.height, uniform.width, uniform.rule),
        (28, 32, SizeRule::Uniform)
    );
    let mixed = working_size(None, &[(32, 32), (28, 28)]);
    assert_eq!(
        (mixed.height, mixed.width, mixed.rule),
        (64, 64, SizeRule::Default)
    );
    // Large images of one size are photos: brought to 64x64, not kept at 500x375.
    let photos = working_size(None, &[(500, 375); 3]);
    assert_eq!(
        (photos.height, photos.width),
        (DEFAULT_IMAGE_SIDE, DEFAULT_IMAGE_SIDE)
    );
}

#[test]
fn scan_estimates_memory_and_load_reports_progress() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for class in ["a", "b"] {
        let d = mkdir(&root.join(class));
        for i in 0..5 {
            save_jpeg(&d.join(format!("{i}.jpg")), &scene(100 + i, 75, 9));
        }
    }
    let valid = FolderParams::default().check().unwrap();
    let scan = valid.scan(root).unwrap();
    assert_eq!(scan.file_counts().total(), 10);
    assert_eq!(scan.file_counts().test, 2);
    assert_eq!(scan.max_image_bytes().unwrap(), 10 * 64 * 64 * 3);
    let sized = FolderParams {
        image_size: Some((4096, 4096)),
        ..params()
    };
    assert_eq!(
        sized
            .check()
            .unwrap()
            .scan(root)
            .unwrap()
            .max_image_bytes()
            .unwrap(),
        10 * 4096 * 4096 * 3
    );

    let seen = std::sync::Mutex::new(Vec::new());
    let record = |p: LoadProgress| seen.lock().unwrap().push(p);
    let loaded = scan.load(Some(&record)).unwrap();
    let seen = seen.into_inner().unwrap();
    for stage in [LoadStage::ReadingHeaders, LoadStage::Decoding] {
        let of_stage: Vec<&LoadProgress> = seen.iter().filter(|p| p.stage == stage).collect();
        assert_eq!(of_stage.len(), 10, "{stage:?}");
        assert_eq!(of_stage.iter().map(|p| p.done).max(), Some(10));
        assert!(of_stage.iter().all(|p| p.total == 10));
    }
    assert_eq!(loaded.stats.images, 10);
}
