/** What a verified token says about its bearer (PROTOCOL.md 2 and 3.1). Plain data. */

export interface WorkspaceRoot {
  uuid?: string;
  /** Tree path of the root node, without leading or trailing slash: `pydiods1/projects`. */
  path: string;
}

export interface Workspace {
  uuid: string;
  slug: string;
  label?: string;
  roots: WorkspaceRoot[];
}

export interface Identity {
  /** Login: `name`, else `preferred_username`, else `sub`. */
  user: string;
  /** Token subject (`sub`). */
  subject: string;
  /** `standard`, `shared`, `admin`... */
  profile: string;
  roles: string[];
  workspaces: Workspace[];
  /** `["*", "user:<login>", "profile:<profile>", "role:<id>"...]`, for meta policies. */
  subjects: string[];
  /** Issued at, unix seconds (`iat`); undefined when the token has none. The claims themselves are not kept. */
  iat?: number;
  /** Expiry, unix seconds; undefined when the token has none. */
  exp?: number;
}
