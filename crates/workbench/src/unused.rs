//! Options given that the chosen model does not use.
//!
//! The rule, the same for `pipeline run`'s flags and for `pipeline compare`'s flags and
//! experiment-file fields: an option that was given but does not apply to the model (or the
//! solver) it would configure gives a one-line warning naming it, told before any data is
//! loaded, and the run goes on without it. Never silently ignored; not an error, because a
//! compare grid shares settings (`momentum`, `batch_size`, ...) between models that use them
//! and models that do not.
//!
//! Which options apply:
//!
//! | option | applies to |
//! |---|---|
//! | `epochs`, `batch_size` | SGD (linear models with `solver = sgd`) and the MLP |
//! | `momentum` | linear SGD; the MLP with the `momentum` or `nesterov` optimiser |
//! | `lr_decay`, `no_average` (`average = false`) | linear SGD |
//! | `solver`, `svm_loss` | the linear models (`svm_loss`: the SVM; anything else is an error) |
//! | `iterations` | linear models with `solver = lbfgs` |
//! | `hidden`, `activation`, `leaky_slope`, `maxout_pieces`, `loss`, `optimizer`, `lr_schedule`, `dropout`, `batch_norm`, `patience`, `mlp_augment` | the MLP |
//!
//! (`lr` given to an L-BFGS model is told by [`crate::train::lr_warning`].)

use wb_linear::Solver;
use wb_mlp::OptimizerKind;

use crate::options::MlpOptions;
use crate::train::{ModelKind, TrainOptions, TrainSettings};

/// Which of the options shared by the models were given (before defaults), and the MLP's.
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub epochs: bool,
    pub batch_size: bool,
    pub momentum: bool,
    pub lr_decay: bool,
    /// `--no-average` / `average = false`.
    pub no_average: bool,
    pub solver: bool,
    pub iterations: bool,
    pub mlp: MlpOptions,
}

/// An option that does not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unused {
    /// The option as an experiment-file field (`lr_decay`); the flag is `--lr-decay`.
    pub field: &'static str,
    pub why: &'static str,
}

impl Unused {
    /// The flag of the option (`--lr-decay`).
    pub fn flag(&self) -> String {
        format!("--{}", self.field.replace('_', "-"))
    }

    /// The warning for `pipeline run`, naming the flag.
    pub fn flag_warning(&self, model: ModelKind) -> String {
        format!(
            "warning: {} does not apply to --model {} ({}): ignored",
            self.flag(),
            model.name(),
            self.why
        )
    }

    /// The option as an experiment file writes it (`` `lr_decay` ``, `` `average = false` ``).
    pub fn field_text(&self) -> String {
        match self.field {
            "no_average" => "`average = false`".into(),
            field => format!("`{field}`"),
        }
    }

    /// The warning for an experiment-file section's option (`pipeline compare`).
    pub fn field_warning(&self, model: ModelKind, section: &str) -> String {
        format!(
            "warning: {}{section} does not apply to {} ({}): ignored",
            self.field_text(),
            model.name(),
            self.why
        )
    }
}

/// The options in `given` that `settings` (the model as it will be trained) does not use.
pub fn unused_options(given: &Given, settings: &TrainSettings) -> Vec<Unused> {
    let mut unused = Vec::new();
    // `given` and not `applies`: unused.
    let mut note = |given: bool, applies: bool, field: &'static str, why: &'static str| {
        if given && !applies {
            unused.push(Unused { field, why });
        }
    };
    match &settings.mlp {
        Some(mlp) => {
            const LINEAR: &str = "an option of the linear models' SGD";
            let rate = "the MLP's rate follows --lr-schedule";
            note(given.lr_decay, false, "lr_decay", rate);
            note(given.no_average, false, "no_average", LINEAR);
            let backprop = "the MLP trains by mini-batch backpropagation";
            note(given.solver, false, "solver", backprop);
            let lbfgs = "L-BFGS iterations of the linear models";
            note(given.iterations, false, "iterations", lbfgs);
            let momentum_used = matches!(
                mlp.optimizer,
                OptimizerKind::Momentum | OptimizerKind::Nesterov
            );
            let no_momentum = "the MLP's sgd and adam optimisers have no momentum";
            note(given.momentum, momentum_used, "momentum", no_momentum);
        }
        None => {
            let sgd = settings.linear.solver == Solver::Sgd;
            const FULL_BATCH: &str = "L-BFGS is a full-batch solver";
            note(given.epochs, sgd, "epochs", "L-BFGS counts --iterations");
            note(given.batch_size, sgd, "batch_size", FULL_BATCH);
            note(given.momentum, sgd, "momentum", FULL_BATCH);
            note(given.lr_decay, sgd, "lr_decay", FULL_BATCH);
            note(given.no_average, sgd, "no_average", FULL_BATCH);
            let only_lbfgs = "only the L-BFGS solver counts iterations";
            note(given.iterations, !sgd, "iterations", only_lbfgs);
            const MLP: &str = "an MLP option";
            let m = &given.mlp;
            note(m.hidden.is_some(), false, "hidden", MLP);
            note(m.activation.is_some(), false, "activation", MLP);
            note(m.leaky_slope.is_some(), false, "leaky_slope", MLP);
            note(m.maxout_pieces.is_some(), false, "maxout_pieces", MLP);
            note(m.loss.is_some(), false, "loss", MLP);
            note(m.optimizer.is_some(), false, "optimizer", MLP);
            note(m.schedule.is_some(), false, "lr_schedule", MLP);
            note(m.dropout.is_some(), false, "dropout", MLP);
            note(m.batch_norm.is_some(), false, "batch_norm", MLP);
            note(m.patience.is_some(), false, "patience", MLP);
            note(m.augment.is_some(), false, "mlp_augment", MLP);
        }
    }
    unused
}

impl From<&TrainOptions> for Given {
    fn from(o: &TrainOptions) -> Given {
        Given {
            epochs: o.epochs.is_some(),
            batch_size: o.batch_size.is_some(),
            momentum: o.momentum.is_some(),
            lr_decay: o.lr_decay.is_some(),
            no_average: !o.average,
            solver: o.solver.is_some(),
            iterations: o.iterations.is_some(),
            mlp: o.mlp.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wb_mlp::ActivationKind;

    fn fields(options: &TrainOptions) -> Vec<&'static str> {
        let settings = TrainSettings::from_options(options, 0).unwrap();
        unused_options(&Given::from(options), &settings)
            .iter()
            .map(|u| u.field)
            .collect()
    }

    #[test]
    fn linear_options_given_to_the_mlp_are_named() {
        let mut o = TrainOptions::new(ModelKind::Mlp);
        assert!(fields(&o).is_empty());
        o.lr_decay = Some(0.5);
        o.average = false;
        o.solver = Some(Solver::Sgd);
        o.iterations = Some(10);
        o.momentum = Some(0.5);
        assert_eq!(
            fields(&o),
            ["lr_decay", "no_average", "solver", "iterations"],
            "momentum applies to the default momentum optimiser"
        );
        o.mlp.optimizer = Some(OptimizerKind::Adam);
        assert!(fields(&o).contains(&"momentum"));
    }

    #[test]
    fn mlp_and_sgd_options_given_to_a_linear_model_are_named() {
        let mut o = TrainOptions::new(ModelKind::Softmax);
        o.mlp.hidden = Some(vec![10]);
        o.mlp.dropout = Some(0.1);
        o.mlp.activation = Some(ActivationKind::Tanh);
        o.iterations = Some(20);
        o.epochs = Some(3);
        assert_eq!(
            fields(&o),
            ["iterations", "hidden", "activation", "dropout"]
        );

        // The SVM's default solver is L-BFGS: SGD's options do not apply.
        let mut o = TrainOptions::new(ModelKind::Svm);
        o.epochs = Some(3);
        o.batch_size = Some(50);
        o.lr_decay = Some(0.5);
        o.average = false;
        o.iterations = Some(20);
        assert_eq!(
            fields(&o),
            ["epochs", "batch_size", "lr_decay", "no_average"]
        );
        let u = Unused {
            field: "lr_decay",
            why: "x",
        };
        assert!(u.flag_warning(ModelKind::Svm).contains("--lr-decay"));
        assert_eq!(u.flag_warning(ModelKind::Svm).lines().count(), 1);
    }
}
