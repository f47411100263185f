/**
 * The shared conformance suite every distillation method passes: a method supplies how to build its terms and calls
 * `distillerConformance('name', build)` (see distill.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, sampleTriples, type Dataset } from '@derrd/core';
import {
  AdamL2, BprMf, computeTeacherItemRanking, computeTeacherRanking, initBackend, tf, trainableOf, trainingStep, type Batch, type LossTerm, type RecModel, type TeacherItemRanking,
  type TeacherRanking,
} from '@derrd/train';
import { tinyDataset } from './helpers.js';

export interface DistillFixture {
  ds: Dataset;
  teacher: RecModel;
  student: RecModel;
  ranking: TeacherRanking;
  /** top 30 users per item (of 60), for IR */
  itemRanking: TeacherItemRanking;
}

export type TermsFactory = (f: DistillFixture) => LossTerm[];

export function fixture(): DistillFixture {
  const ds = tinyDataset(21, 60, 200);
  const teacher = new BprMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 16 }, 1);
  for (const v of Object.values(teacher.variables)) v.assign(tf.mul(v, 30));
  const student = new BprMf({ numUsers: ds.numUsers, numItems: ds.numItems, dim: 4 }, 2);
  return { ds, teacher, student, ranking: computeTeacherRanking(teacher, ds, 50), itemRanking: computeTeacherItemRanking(teacher, ds, 30) };
}

export function batchOf(ds: Dataset, seed: number, size = 64): Batch {
  const t = sampleTriples(ds, new Rng(seed));
  const userIds = t.users.subarray(0, size), posIds = t.pos.subarray(0, size), negIds = t.neg.subarray(0, size);
  return { users: tf.tensor1d(userIds, 'int32'), pos: tf.tensor1d(posIds, 'int32'), neg: tf.tensor1d(negIds, 'int32'), userIds, posIds, negIds, epoch: 0, index: 0 };
}

export function distillerConformance(name: string, build: TermsFactory): void {
  test(`${name}: terms give finite non-negative losses with gradients into the student and their own parameters`, async () => {
    await initBackend('wasm');
    const f = fixture();
    const terms = build(f);
    assert.ok(terms.length > 0);
    const batch = batchOf(f.ds, 3);
    for (const term of terms) {
      term.onEpochStart?.(0, new Rng(5));
      const value = tf.tidy(() => term.loss(batch).dataSync()[0]);
      assert.ok(Number.isFinite(value) && value >= 0, `${term.name} loss ${value}`);
      const own = Object.values(term.variables());
      const { value: v, grads } = tf.variableGrads(() => term.loss(batch), [...Object.values(f.student.variables), ...own]);
      v.dispose();
      for (const variable of [...Object.values(f.student.variables), ...own]) {
        const g = grads[variable.name];
        assert.ok(g, `${term.name}: no gradient for ${variable.name}`);
        assert.ok(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 0, `${term.name}: zero gradient for ${variable.name}`);
      }
      for (const g of Object.values(grads)) g.dispose();
      assert.doesNotThrow(() => JSON.stringify(term.settings()));
      assert.equal(typeof term.weight, 'number');
    }
  });

  test(`${name}: training with the terms leaves the teacher frozen and is deterministic`, async () => {
    await initBackend('wasm');
    const run = () => {
      const f = fixture();
      const teacherBefore = f.teacher.getWeights();
      const terms = build(f);
      const opt = new AdamL2({ lr: 0.01 });
      const vars = trainableOf(f.student, terms);
      const losses: number[] = [];
      for (let step = 0; step < 3; step++) {
        terms.forEach((t, k) => t.onEpochStart?.(step, new Rng(10 + step).fork(k)));
        losses.push(trainingStep(f.student, terms, vars, opt, batchOf(f.ds, step)).loss);
      }
      const teacherAfter = f.teacher.getWeights();
      for (const k of Object.keys(teacherBefore)) assert.deepEqual(teacherAfter[k].data, teacherBefore[k].data, `teacher ${k} changed`);
      const out = { losses, student: f.student.getWeights().user.data };
      for (const t of terms) t.dispose();
      opt.dispose();
      return out;
    };
    const a = run();
    const b = run();
    assert.deepEqual(a.losses, b.losses);
    assert.deepEqual(a.student, b.student);
  });
}
