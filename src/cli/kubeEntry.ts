/** The `hdc kube` bundle (dist/hdc-kube.cjs): the Kubernetes models and schemas load only for that command. */
export { kube } from '../ops/kube';
