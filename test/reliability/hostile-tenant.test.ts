import { apiEdgeAttacks } from './hostile-tenant/api-edge.attacks';
import { runtimeSandboxAttacks } from './hostile-tenant/runtime-sandbox.attacks';
import { wedgedInstallerAttacks } from './hostile-tenant/wedged-installer.attacks';
import { kubernetesNameAttacks } from './hostile-tenant/kubernetes-names.attacks';
import { leftoverAttacks } from './hostile-tenant/leftovers.attacks';

/*
 * Every tenant is an attacker. Each attack below must fail, and another tenant must not notice it:
 * its runtimes stay healthy, its installs reach ready, and the installer's checkpoint advances.
 * The attacks live in hostile-tenant/, one file per boundary.
 */
jest.setTimeout(120_000);

wedgedInstallerAttacks();
apiEdgeAttacks();
runtimeSandboxAttacks();
kubernetesNameAttacks();
leftoverAttacks();
