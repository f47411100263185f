/**
 * Adam with coupled L2, as PyTorch's `Adam(lr, weight_decay)`: the decay is added to the gradient before the
 * moments, for every parameter, every step (embedding tables get dense gradients, so every row moves).
 */
import { tf, type Tensor, type Variable } from './tf.js';
import type { AdamAttrs } from './kernels.js';

export interface AdamConfig {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
}

export const ADAM_DEFAULTS: AdamConfig = { lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 1e-3 };

export class AdamL2 {
  readonly config: AdamConfig;
  step = 0;
  private readonly m = new Map<string, Tensor>();
  private readonly v = new Map<string, Tensor>();

  constructor(config: Partial<AdamConfig> = {}) {
    this.config = { ...ADAM_DEFAULTS, ...config };
  }

  /** Applies one step to every variable that has a gradient; disposes the gradients. */
  apply(variables: Record<string, Variable>, grads: Record<string, Tensor>): void {
    this.step++;
    const attrs: AdamAttrs = { ...this.config, step: this.step };
    const fused = tf.getKernel('DerrdAdam', tf.getBackend()) !== undefined;
    for (const [name, variable] of Object.entries(variables)) {
      const grad = grads[name];
      if (!grad) continue;
      const m = this.m.get(name) ?? tf.zerosLike(variable);
      const v = this.v.get(name) ?? tf.zerosLike(variable);
      let outs: Tensor[];
      if (fused) {
        outs = tf.engine().runKernel('DerrdAdam', { param: variable, grad, m, v }, attrs as unknown as tf.NamedAttrMap) as Tensor[];
      } else {
        outs = tf.tidy(() => composite(variable, grad, m, v, attrs));
      }
      variable.assign(outs[0]);
      outs[0].dispose();
      m.dispose();
      v.dispose();
      grad.dispose();
      this.m.set(name, outs[1]);
      this.v.set(name, outs[2]);
    }
  }

  /** Moments for checkpoints. */
  state(): { step: number; tensors: Record<string, Tensor> } {
    const tensors: Record<string, Tensor> = {};
    for (const [k, t] of this.m) tensors[`m.${k}`] = t;
    for (const [k, t] of this.v) tensors[`v.${k}`] = t;
    return { step: this.step, tensors };
  }

  restore(step: number, tensors: Record<string, Tensor>): void {
    this.dispose();
    this.step = step;
    for (const [key, t] of Object.entries(tensors)) {
      if (key.startsWith('m.')) this.m.set(key.slice(2), t);
      else if (key.startsWith('v.')) this.v.set(key.slice(2), t);
    }
  }

  dispose(): void {
    for (const t of this.m.values()) t.dispose();
    for (const t of this.v.values()) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

/** The same update from stock ops (for backends without our fused kernel, e.g. tfjs-node). */
function composite(p: Tensor, g: Tensor, m: Tensor, v: Tensor, a: AdamAttrs): Tensor[] {
  const gk = tf.add(g, tf.mul(p, a.weightDecay));
  const mk = tf.add(tf.mul(m, a.beta1), tf.mul(gk, 1 - a.beta1));
  const vk = tf.add(tf.mul(v, a.beta2), tf.mul(tf.square(gk), 1 - a.beta2));
  const bc1 = 1 - Math.pow(a.beta1, a.step);
  const bc2 = 1 - Math.pow(a.beta2, a.step);
  const denom = tf.add(tf.div(tf.sqrt(vk), Math.sqrt(bc2)), a.epsilon);
  const pk = tf.sub(p, tf.mul(tf.div(mk, denom), a.lr / bc1));
  return [pk, mk, vk];
}
