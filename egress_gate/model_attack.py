"""Attack a trained model with sacroml and say, in a compact table, what leaked and whether it may leave.

Two attacks (SACRO-ML, the maintained library of the SACRO output-checking project):

- **membership inference, worst case** (:class:`sacroml.attacks.worst_case_attack.WorstCaseAttack`):
  an attack model is trained on the target model's outputs (probabilities, and whether each
  prediction is right) for rows it was trained on and held-out rows, and scored on rows it has not
  seen, ``policy.model_attack_reps`` times. Its mean AUC above ``policy.model_attack_auc`` refuses
  the model (``fail``): the model tells its training rows apart, so it carries them.
- **structural** (:class:`sacroml.attacks.structural_attack.StructuralAttack`, scikit-learn models):
  groups of training rows the model cannot tell apart smaller than the project's small-cell
  threshold (k-anonymity), groups whose output gives a class away, degrees of freedom left,
  the train/test accuracy gap, needlessly risky hyper-parameters. Each risk found asks a steward
  to look (``review``): they are signs, not proof.

Runs only in the model worker (:mod:`egress_gate.model_worker`), after the sandbox is entered.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass

import numpy as np

from .findings import Outcome
from .policy import Policy

MIA = "membership inference (worst case)"
STRUCTURAL = "structural"
STRUCTURAL_RISKS = (  # sacroml's result key, what it means for a steward
    ("k_anonymity_risk", "training rows the model cannot tell apart, fewer than the small-cell threshold"),
    ("class_disclosure_risk", "a group of training rows whose output gives its class away"),
    ("smallgroup_risk", "a class with fewer rows than the threshold in a group"),
    ("dof_risk", "residual degrees of freedom below ACRO's threshold"),
    ("gen_error_risk", "accuracy on training rows significantly above held-out rows"),
    ("unnecessary_risk", "hyper-parameters among the riskiest for this kind of model"),
)


@dataclass(frozen=True)
class Row:
    attack: str
    metric: str
    value: str
    threshold: str
    result: Outcome

    def to_dict(self) -> dict:
        return {"attack": self.attack, "metric": self.metric, "value": self.value, "threshold": self.threshold,
                "result": self.result.value}


def attack_model(model, x_train, y_train, x_test, y_test, policy: Policy) -> list[Row]:
    """The report's rows for ``model`` trained on (x_train, y_train), with (x_test, y_test) held out."""
    logging.disable(logging.WARNING)  # sacroml logs every repetition at INFO
    proba_train, proba_test = _probabilities(model, x_train), _probabilities(model, x_test)
    right_train = (_predicted(model, proba_train) == np.asarray(y_train)).astype(int)
    right_test = (_predicted(model, proba_test) == np.asarray(y_test)).astype(int)
    rows = _membership_inference(proba_train, proba_test, right_train, right_test, policy)
    rows.append(Row("accuracy", "on training rows / held-out rows", f"{right_train.mean():.3f} / {right_test.mean():.3f}",
                    "shown", Outcome.PASS))
    rows += _structural(model, x_train, y_train, x_test, y_test, policy)
    return rows


def _probabilities(model, x) -> np.ndarray:
    proba = np.asarray(model.predict_proba(x) if hasattr(model, "predict_proba") else model.predict(x, verbose=0))
    if proba.ndim == 1 or proba.shape[1] == 1:  # one sigmoid output: the probability of class 1
        proba = np.column_stack([1 - proba.ravel(), proba.ravel()])
    return proba.astype(float)


def _predicted(model, proba: np.ndarray) -> np.ndarray:
    classes = getattr(model, "classes_", None)
    index = proba.argmax(axis=1)
    return np.asarray(classes)[index] if classes is not None else index


def _membership_inference(proba_train, proba_test, right_train, right_test, policy: Policy) -> list[Row]:
    from sacroml.attacks.worst_case_attack import WorstCaseAttack

    with tempfile.TemporaryDirectory() as out:  # sacroml makes an output folder even when it writes no report
        attack = WorstCaseAttack(output_dir=out, write_report=False, n_reps=policy.model_attack_reps, n_dummy_reps=0,
                                 include_model_correct_feature=True, reproduce_split=list(range(policy.model_attack_reps)))
        attack.attack_from_preds(proba_train, proba_test, train_correct=right_train, test_correct=right_test)
        reps = attack.attack_metrics
        significant = attack._get_global_metrics(reps).get("n_sig_auc_p_vals", 0)
    auc = float(np.mean([m["AUC"] for m in reps]))
    advantage = float(np.mean([m["Advantage"] for m in reps]))
    refused = auc > policy.model_attack_auc
    return [
        Row(MIA, f"attack AUC, mean of {len(reps)}", f"{auc:.3f}", f"≤ {policy.model_attack_auc:g}",
            Outcome.FAIL if refused else Outcome.PASS),
        Row(MIA, "repetitions with AUC significantly above 0.5 (p ≤ 0.05)", f"{significant} of {len(reps)}", "shown",
            Outcome.PASS),
        Row(MIA, "attack advantage (TPR − FPR), mean", f"{advantage:.3f}", "shown", Outcome.PASS),
    ]


def _structural(model, x_train, y_train, x_test, y_test, policy: Policy) -> list[Row]:
    from sklearn.base import BaseEstimator

    if not isinstance(model, BaseEstimator):
        return [Row(STRUCTURAL, "not run", "—", "scikit-learn models only", Outcome.REVIEW)]
    from sacroml.attacks.structural_attack import StructuralAttack
    from sacroml.attacks.target import Target

    target = Target(model=model, X_train=x_train, y_train=np.asarray(y_train),
                    X_test=x_test, y_test=np.asarray(y_test))
    with tempfile.TemporaryDirectory() as out:
        attack = StructuralAttack(output_dir=out, write_report=False)
        attack.THRESHOLD = policy.threshold  # the project's small-cell threshold, not ACRO's default
        output = attack.attack(target)
    if not output:
        return [Row(STRUCTURAL, "not run", "—", "sacroml could not attack this model", Outcome.REVIEW)]
    results = output["metadata"]["global_metrics"]
    return [Row(STRUCTURAL, what, "risk" if results.get(key) else "none",
                f"< {policy.threshold} rows" if key in ("k_anonymity_risk", "smallgroup_risk") else "none",
                Outcome.REVIEW if results.get(key) else Outcome.PASS)
            for key, what in STRUCTURAL_RISKS]
