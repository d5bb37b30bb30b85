import type { RegisterRoute } from "./index";

// Placeholder until the route is written; registers nothing.
const register: RegisterRoute = () => {};
export default register;
