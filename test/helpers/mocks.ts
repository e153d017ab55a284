/**
 * Component-tier helpers: pulumi.runtime.setMocks with a recorder of every registered resource.
 */
import * as pulumi from "@pulumi/pulumi";

export interface Registered {
  type: string;
  name: string;
  inputs: Record<string, any>;
}

export const registered: Registered[] = [];

/** Installs mocks that echo inputs as outputs and record each registration. */
export function installMocks(preview = false, stack = "staging"): void {
  registered.length = 0;
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        return args.inputs;
      },
    },
    "berth-test",
    stack,
    preview,
  );
}

/** Resolves an Output's value (undefined when unknown). */
export function value<T>(o: pulumi.Output<T> | pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

/** Whether an Output is marked secret. */
export function isSecret<T>(o: pulumi.Output<T>): Promise<boolean> {
  return (o as any).isSecret as Promise<boolean>;
}

/** Waits for pending registrations to reach the mock monitor. */
export function settle(): Promise<void> {
  return new Promise((r) => setTimeout(r, 50));
}
