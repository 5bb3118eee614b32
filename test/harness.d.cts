export interface MochaCounts {
  passed: number;
  failed: number;
  skipped: number;
}
export function runMocha(opts: {
  tier: string;
  files: string[];
  grep?: string;
  timeout?: number;
  log?: (line: string) => void;
}): Promise<MochaCounts>;
